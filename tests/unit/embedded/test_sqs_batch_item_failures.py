"""Reading a function's ReportBatchItemFailures response, as Lambda's SQS event source does."""

from __future__ import annotations

import pytest

from serverless_testbed.embedded.sqs_poller import batch_item_failures


@pytest.mark.parametrize(
    ("response", "failed"),
    [
        (b"", set()),  # no response: the whole batch succeeded
        (b"null", set()),
        (b"{}", set()),
        (b'{"batchItemFailures": null}', set()),
        (b'{"batchItemFailures": []}', set()),
        (b'{"batchItemFailures": [{"itemIdentifier": "m2"}]}', {"m2"}),
        (
            b'{"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]}',
            {"m1", "m2"},
        ),
        (b'{"batchItemFailures": [{"itemIdentifier": "other"}]}', None),  # not in the batch
        (b'{"batchItemFailures": [{"itemIdentifier": ""}]}', None),
        (b'{"batchItemFailures": [{"itemIdentifier": null}]}', None),
        (b'{"batchItemFailures": [{"id": "m1"}]}', None),  # a bad key name
        (b'{"batchItemFailures": "m1"}', None),
        (b'"ok"', None),
        (b"not json", None),
    ],
)
def test_batch_item_failures_follow_lambdas_rules(response: bytes, failed: set[str] | None):
    """Which messages failed (None: the response is invalid, so the whole batch failed)."""
    assert batch_item_failures(response, {"m1", "m2", "m3"}) == failed
