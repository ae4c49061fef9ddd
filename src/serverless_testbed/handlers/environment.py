"""What every handler takes from its Lambda environment: settings and boto3 clients.

Clients are made on first use and kept for the container's life. Their endpoints come from
boto3's own settings (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>, config files), their
region from AWS_REGION / AWS_DEFAULT_REGION: the handlers never know which target they run on.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import boto3
from botocore.config import Config

CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3})


class MissingSetting(RuntimeError):
    """An environment variable the template sets is missing: a deployment error."""


def required_env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise MissingSetting(f"environment variable {name} is not set (template.yaml sets it)")
    return value


def float_env(name: str, default: float) -> float:
    text = os.environ.get(name, "")
    try:
        return float(text) if text else default
    except ValueError:
        raise MissingSetting(f"environment variable {name}={text!r} is not a number") from None


@functools.cache
def aws_client(service: str) -> Any:
    return boto3.client(service, config=CLIENT_CONFIG)
