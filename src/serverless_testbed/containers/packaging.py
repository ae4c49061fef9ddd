"""The Lambda code for an emulator that runs it for real (LocalStack), and the template that
points at it.

The zip is what `sam build` makes for this template: the ``serverless_testbed`` package plus
the handlers' requirements (src/requirements.txt), installed with ``pip --target``. Only pure
Python wheels are accepted, which is what lets one zip serve both FunctionArchitecture values
(template.yaml says why).

The template goes through the same translation as the embedded stack (local/provision.py:
aws-sam-translator, the ASL with its DefinitionSubstitutions, the HTTP API taken out and its
URL pointed at the local API gateway); then each function's code is the uploaded zip in S3,
where `sam package` would have put it.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import serverless_testbed
from serverless_testbed.emulation import provision
from serverless_testbed.errors import UsageError

PACKAGE_DIR = Path(serverless_testbed.__file__).resolve().parent
LAMBDA_PYTHON_VERSION = "3.11"  # template.yaml's Runtime: python3.11
CODE_URI = "src"  # template.yaml's Globals.Function.CodeUri
SKIPPED_PARTS = {"__pycache__"}


@dataclass(frozen=True)
class CodeArchive:
    path: Path
    sha256: str

    @property
    def s3_key(self) -> str:
        return f"serverless-testbed/{self.sha256}.zip"


def requirements_for(template: Path) -> Path:
    """What `sam build` installs for ``template``: requirements.txt in its CodeUri.

    It sits beside the template both in a source checkout and in an installed copy
    (pyproject.toml installs the two together under share/serverless-testbed).
    """
    path = template.parent / CODE_URI / "requirements.txt"
    if not path.is_file():
        raise UsageError(f"the handlers' requirements file was not found at {path}")
    return path


def build_lambda_zip(destination: Path, requirements: Path) -> CodeArchive:
    """Write ``destination`` (a .zip): the package and the requirements, pure Python only."""
    with tempfile.TemporaryDirectory(prefix="testbed-lambda-") as staging:
        if requirements.read_text().strip():
            _pip_install(requirements, Path(staging))
        destination.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(destination, "w", zipfile.ZIP_DEFLATED) as archive:
            _add_tree(archive, Path(staging), Path())
            _add_tree(archive, PACKAGE_DIR, Path(PACKAGE_DIR.name))
    digest = hashlib.sha256(destination.read_bytes()).hexdigest()
    return CodeArchive(destination, digest)


def pip_target_flags() -> list[str]:
    """pip's flags for wheels of Lambda's Python, not this one's, and only pure Python ones
    (the Dockerfile downloads the handlers' wheels with the same)."""
    return [
        "--python-version",
        LAMBDA_PYTHON_VERSION,
        "--implementation",
        "py",
        "--abi",
        "none",
        "--platform",
        "any",
        "--only-binary=:all:",
    ]


def _pip_install(requirements: Path, target: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--target",
        str(target),
        "--requirement",
        str(requirements),
        *pip_target_flags(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last_line = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise UsageError(f"pip could not install {requirements} for the Lambda zip: {last_line}")


def _add_tree(archive: zipfile.ZipFile, root: Path, prefix: Path) -> None:
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and not SKIPPED_PARTS & set(relative.parts):
            # A fixed timestamp: the same code gives the same zip, hence the same S3 key.
            info = zipfile.ZipInfo(str(prefix / relative), date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())


def translate_with_code_in_s3(
    template_path: Path,
    parameters: dict[str, str],
    *,
    region: str,
    iam_client: Any,
    api_base_url: str,
    code_bucket: str,
    code_key: str,
) -> provision.TranslatedStack:
    """The SAM template as plain CloudFormation whose functions run the zip at
    s3://code_bucket/code_key."""
    translated = provision.translate(
        template_path,
        parameters,
        region=region,
        iam_client=iam_client,
        api_base_url=api_base_url,
    )
    functions = [
        resource
        for resource in translated.template["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function"
    ]
    if not functions:
        raise UsageError(f"{template_path}: no function to deploy")
    for function in functions:
        function["Properties"]["Code"] = {"S3Bucket": code_bucket, "S3Key": code_key}
    return translated
