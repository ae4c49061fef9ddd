"""How many messages wait in each queue, are in flight, or are delayed (GetQueueAttributes)."""

from __future__ import annotations

from typing import Any

ATTRIBUTES = {
    "visible": "ApproximateNumberOfMessages",
    "in_flight": "ApproximateNumberOfMessagesNotVisible",
    "delayed": "ApproximateNumberOfMessagesDelayed",
}


class QueueWatch:
    """Samples the depth of named queues (label -> queue URL)."""

    def __init__(self, sqs: Any, queues: dict[str, str]) -> None:
        self.sqs = sqs
        self.queues = dict(queues)

    def sample(self) -> dict[str, dict[str, int]]:
        depths = {}
        for label, url in self.queues.items():
            answer = self.sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=list(ATTRIBUTES.values())
            )["Attributes"]
            depths[label] = {key: int(answer.get(name, 0)) for key, name in ATTRIBUTES.items()}
        return depths
