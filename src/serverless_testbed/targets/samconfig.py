"""The stack name (and region, profile) `sam deploy --guided` saved in samconfig.toml."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from serverless_testbed.errors import UsageError

SAMCONFIG = "samconfig.toml"
DEFAULT_SECTION = "default"  # sam's config-env when none is named


@dataclass(frozen=True)
class SamDeployConfig:
    stack_name: str | None
    region: str | None
    profile: str | None


def read_deploy_config(path: Path, stage: str | None = None) -> SamDeployConfig | None:
    """``[<stage or default>.deploy.parameters]`` of a samconfig.toml; None if no file."""
    if not path.is_file():
        return None
    try:
        config = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"{path}: not valid TOML ({error})") from None
    section = stage or DEFAULT_SECTION
    if section not in config:
        if stage is None:
            return None
        environments = ", ".join(k for k, v in config.items() if isinstance(v, dict)) or "none"
        raise UsageError(
            f"{path} has no [{section}] section (config environments: {environments}): "
            "pass --stack-name or use a --stage that `sam deploy --config-env` saved"
        )
    parameters = config[section].get("deploy", {}).get("parameters", {})
    return SamDeployConfig(
        stack_name=parameters.get("stack_name"),
        region=parameters.get("region"),
        profile=parameters.get("profile"),
    )


def resolve_stack_name(
    explicit: str | None,
    environ: dict[str, str],
    samconfig: SamDeployConfig | None,
    path: Path,
) -> str:
    """--stack-name wins, else STACK_NAME, else stack_name from samconfig.toml."""
    if explicit:
        return explicit
    if environ.get("STACK_NAME"):
        return environ["STACK_NAME"]
    if samconfig is not None and samconfig.stack_name:
        return samconfig.stack_name
    raise UsageError(
        f"no stack name: pass --stack-name, set STACK_NAME, or run `sam deploy --guided` "
        f"so that {path} holds stack_name"
    )
