"""The receipt handles a queue remembers after their messages were deleted: the newest
ones, so that deleting again succeeds, up to a bound."""

from __future__ import annotations

from serverless_testbed.embedded.moto.deleted_receipts import RecentReceipts


def test_handles_are_remembered_until_newer_ones_push_them_out() -> None:
    receipts = RecentReceipts(kept=3)
    receipts.update(["a", "b"])
    receipts.update(["c", "d"])

    assert [handle in receipts for handle in "abcd"] == [False, True, True, True]
    assert len(receipts) == 3


def test_a_handle_remembered_again_counts_as_new() -> None:
    receipts = RecentReceipts(kept=2)
    receipts.update(["a", "b"])
    receipts.update(["a"])
    receipts.update(["c"])

    assert [handle in receipts for handle in "abc"] == [True, False, True]
