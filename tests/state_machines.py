"""State machine definitions that unit and integration tests both use."""

from __future__ import annotations

from typing import Any

# A Map whose iterations run four at a time and a Parallel of two branches: the states that
# evaluate one parsed program on several threads at once.
MAP_AND_PARALLEL: dict[str, Any] = {
    "StartAt": "EachItem",
    "States": {
        "EachItem": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemSelector": {"value.$": "$$.Map.Item.Value", "run.$": "$.run"},
            "MaxConcurrency": 4,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "Echo",
                "States": {"Echo": {"Type": "Pass", "End": True}},
            },
            "ResultPath": "$.mapped",
            "Next": "BothBranches",
        },
        "BothBranches": {
            "Type": "Parallel",
            "Branches": [
                {
                    "StartAt": branch,
                    "States": {
                        branch: {
                            "Type": "Pass",
                            "Parameters": {"run.$": "$.run", "branch": branch},
                            "End": True,
                        }
                    },
                }
                for branch in ("a", "b")
            ],
            "ResultPath": "$.branches",
            "End": True,
        },
    },
}
