"""A handler that makes its boto3 client at import, as Lambda code should, and reports the
settings boto3 resolved: they must come from the container's environment."""

from typing import Any

import boto3

sqs = boto3.client("sqs")


def handler(event: Any, context: Any) -> dict[str, Any]:
    credentials = boto3.DEFAULT_SESSION.get_credentials()
    return {
        "endpoint_url": sqs.meta.endpoint_url,
        "region": sqs.meta.region_name,
        "max_attempts": sqs.meta.config.retries["total_max_attempts"],
        "access_key": credentials.access_key,
    }
