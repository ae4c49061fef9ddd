"""The Dockerfile of the compose testbed service, read without an engine (hadolint lints it
in `tox -e lint`): a pinned base with the functions' Python, the handlers' wheels fetched with
the very pip flags the Lambda zip is built with, so `testbed serve` needs no index at start."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from serverless_testbed.containers import packaging

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def test_the_base_image_is_an_exact_python_release_of_the_functions_runtime() -> None:
    (base,) = [rest for keyword, rest in instructions() if keyword == "FROM"]
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader)
    runtime = template["Globals"]["Function"]["Runtime"]  # python3.11

    repository, _, tag = base.partition(":")
    assert repository == "python"
    assert re.fullmatch(r"\d+\.\d+\.\d+-slim-[a-z]+", tag), f"{tag} is not an exact release"
    assert runtime == f"python{'.'.join(tag.split('.')[:2])}"
    assert runtime == f"python{packaging.LAMBDA_PYTHON_VERSION}"


def test_the_wheels_are_fetched_with_the_flags_the_zip_is_built_with() -> None:
    (run,) = [rest for keyword, rest in instructions() if keyword == "RUN" and "download" in rest]
    download = shlex.split(run.split("&&")[1])
    built_with = packaging.pip_target_flags()

    assert download[:2] == ["pip", "download"]
    assert download[-len(built_with) :] == built_with
    requirements = download[download.index("--requirement") + 1]
    assert ROOT / requirements == packaging.requirements_for(ROOT / "template.yaml")


def test_the_zip_is_then_built_from_those_wheels_without_an_index() -> None:
    environment = " ".join(rest for keyword, rest in instructions() if keyword == "ENV")
    (run,) = [rest for keyword, rest in instructions() if keyword == "RUN" and "download" in rest]
    destination = shlex.split(run)[shlex.split(run).index("--dest") + 1]

    assert "PIP_NO_INDEX=1" in environment
    assert f"PIP_FIND_LINKS={destination}" in environment


def test_it_runs_as_an_unprivileged_user_and_the_cli_is_the_entrypoint() -> None:
    keywords = dict(instructions())

    assert keywords["USER"] not in ("0", "root")
    assert keywords["ENTRYPOINT"] == '["testbed"]'


def test_the_build_context_holds_what_the_image_copies() -> None:
    allowed = [
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    for keyword, rest in instructions():
        if keyword == "COPY":
            *sources, _ = rest.split()
            for source in sources:
                assert source.rstrip("/") in allowed, f"COPY {source}: ignored by .dockerignore"
                assert (ROOT / source).exists(), source


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub...) read as plain values."""


_CfnLoader.add_multi_constructor(
    "!",
    lambda loader, suffix, node: (
        loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else None
    ),
)
