"""The contract's typed payloads name exactly the stage timestamps the constants name."""

from __future__ import annotations

from serverless_testbed.pipeline import contract


def test_the_worker_output_carries_every_stage_timestamp() -> None:
    assert set(contract.StageTimestamps.__annotations__) == set(contract.STAGE_TIMESTAMPS)


def test_the_queue_message_carries_the_dispatcher_timestamps() -> None:
    assert set(contract.MessageTimestamps.__annotations__) == {
        contract.DISPATCHER_START,
        contract.MESSAGE_SENT,
    }


def test_fault_stages_are_the_literal_type_s_values() -> None:
    assert contract.FAULT_STAGES == ("dispatcher", "worker")
