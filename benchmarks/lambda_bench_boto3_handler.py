"""A handler that makes its boto3 client at init, outside the handler, as Lambda code should:
its cold start shows what the client costs in a fresh container."""

from typing import Any

import boto3

sqs = boto3.client("sqs")


def handler(event: Any, context: Any) -> dict[str, Any]:
    return {}
