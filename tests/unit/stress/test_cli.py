"""`testbed publish` / `testbed worker` flags: one set of validators, one --prefix and secret."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from serverless_testbed.cli import build_parser, main
from serverless_testbed.stress.cli import (
    control_secret,
    hour_of_day,
    non_negative_float,
    positive_float,
    positive_int,
)
from serverless_testbed.stress.protocol import CONTROL_SECRET_ENV, DEFAULT_PREFIX

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "stress"
PUBLISH = ["publish", "--plan", "--config", str(EXAMPLES / "config.json")]
WORKER = ["worker", "--redis", "127.0.0.1:1", "--db", "redis"]


def refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The error line of a command line argparse refuses (exit code 2)."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if ": error: " in line]
    assert len(errors) == 1
    return errors[0]


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "0", "-1", "abc", ""])
@pytest.mark.parametrize(
    ("argv", "flag"),
    [(PUBLISH, "--time-scale"), (WORKER, "--dead-after")],
)
def test_a_positive_duration_or_factor_must_be_finite_and_above_zero(
    argv: list[str], flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = refused([*argv, f"{flag}={value}"], capsys)
    assert line.startswith(f"testbed {argv[0]}: error: argument {flag}: ")
    assert repr(value) in line


@pytest.mark.parametrize("value", ["inf", "nan", "-0.5", "x"])
def test_the_drain_timeout_is_finite_and_may_be_zero(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = refused([*PUBLISH, f"--drain-timeout={value}"], capsys)
    assert "argument --drain-timeout:" in line
    assert non_negative_float("0") == 0.0


@pytest.mark.parametrize("value", ["0", "-3", "1.5", "1e3", "inf", "nan"])
@pytest.mark.parametrize(("argv", "flag"), [(PUBLISH, "--catch-up-max"), (WORKER, "--batch")])
def test_a_count_is_an_integer_of_at_least_one(
    argv: list[str], flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = refused([*argv, f"{flag}={value}"], capsys)
    assert f"argument {flag}: " in line


@pytest.mark.parametrize("value", ["24", "-1", "nan", "inf", "25.5"])
def test_the_start_hour_is_an_hour_of_the_day(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = refused([*PUBLISH, f"--start-hour={value}"], capsys)
    assert "argument --start-hour: must be an hour of day" in line


def test_good_values_pass_through_unchanged() -> None:
    assert positive_float("1e-3") == 0.001
    assert positive_int(" 7 ") == 7
    assert hour_of_day("23.5") == 23.5
    assert non_negative_float("60") == 60.0
    with pytest.raises(argparse.ArgumentTypeError, match="must be a finite number > 0"):
        positive_float("1e400")  # overflows to inf


@pytest.mark.parametrize("command", [PUBLISH, WORKER])
def test_both_commands_share_the_prefix_and_the_control_secret(command: list[str]) -> None:
    args = build_parser().parse_args(command)
    assert args.prefix == DEFAULT_PREFIX
    assert args.control_secret is None
    args = build_parser().parse_args([*command, "--prefix", "p", "--control-secret", "s"])
    assert (args.prefix, args.control_secret) == ("p", "s")


def test_the_control_secret_comes_from_the_flag_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(CONTROL_SECRET_ENV, "from-env")
    assert control_secret(argparse.Namespace(control_secret="from-flag")) == "from-flag"
    assert control_secret(argparse.Namespace(control_secret=None)) == "from-env"
    monkeypatch.setenv(CONTROL_SECRET_ENV, "")
    assert control_secret(argparse.Namespace(control_secret=None)) is None
    assert control_secret(argparse.Namespace(control_secret="")) is None
