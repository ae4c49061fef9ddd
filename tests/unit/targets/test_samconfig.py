"""Which stack: --stack-name, else STACK_NAME, else samconfig.toml's stack_name."""

from __future__ import annotations

from pathlib import Path

import pytest

from serverless_testbed.errors import UsageError
from serverless_testbed.targets.samconfig import read_deploy_config, resolve_stack_name

SAMCONFIG = """
version = 0.1
[default.deploy.parameters]
stack_name = "testsqs"
region = "eu-west-1"

[dev.deploy.parameters]
stack_name = "testsqs-dev"
profile = "dev-profile"
"""


@pytest.fixture
def samconfig(tmp_path: Path) -> Path:
    path = tmp_path / "samconfig.toml"
    path.write_text(SAMCONFIG)
    return path


def test_the_default_section_is_read_when_no_stage_is_named(samconfig: Path) -> None:
    config = read_deploy_config(samconfig)
    assert (config.stack_name, config.region, config.profile) == ("testsqs", "eu-west-1", None)


def test_a_stage_selects_its_own_section(samconfig: Path) -> None:
    config = read_deploy_config(samconfig, "dev")
    assert (config.stack_name, config.profile) == ("testsqs-dev", "dev-profile")


def test_an_unknown_stage_names_the_sections_there_are(samconfig: Path) -> None:
    with pytest.raises(UsageError, match=r"no \[prod\] section .*default, dev"):
        read_deploy_config(samconfig, "prod")


def test_no_file_means_no_config(tmp_path: Path) -> None:
    assert read_deploy_config(tmp_path / "samconfig.toml", "dev") is None


def test_a_broken_file_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "samconfig.toml"
    path.write_text("[default\n")
    with pytest.raises(UsageError, match=r"samconfig\.toml: not valid TOML"):
        read_deploy_config(path)


def test_the_flag_wins_then_the_environment_then_the_file(samconfig: Path) -> None:
    config = read_deploy_config(samconfig)
    env = {"STACK_NAME": "from-env"}
    assert resolve_stack_name("from-flag", env, config, samconfig) == "from-flag"
    assert resolve_stack_name(None, env, config, samconfig) == "from-env"
    assert resolve_stack_name(None, {}, config, samconfig) == "testsqs"


def test_no_stack_name_anywhere_says_where_to_put_one(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="pass --stack-name, set STACK_NAME"):
        resolve_stack_name(None, {}, None, tmp_path / "samconfig.toml")
