"""moto's state dumps of the stack's server and DynamoDB's as one."""

from __future__ import annotations

from serverless_testbed.embedded.moto.forward import merged_dumps


def test_each_model_lists_this_server_s_instances_then_the_other_s() -> None:
    ours = {
        "dynamodb": {"Table": []},
        "sqs": {"Queue": [{"name": "q"}]},
    }
    theirs = {
        "dynamodb": {"Table": [{"name": "t"}], "Backup": [{"name": "b"}]},
        "sts": {"Role": []},
    }

    assert merged_dumps(ours, theirs) == {
        "dynamodb": {"Table": [{"name": "t"}], "Backup": [{"name": "b"}]},
        "sqs": {"Queue": [{"name": "q"}]},
        "sts": {"Role": []},
    }
    assert ours["dynamodb"]["Table"] == []  # neither dump is changed


def test_instances_of_one_model_in_both_are_all_kept() -> None:
    merged = merged_dumps({"sqs": {"Queue": [{"name": "a"}]}}, {"sqs": {"Queue": [{"name": "b"}]}})

    assert merged == {"sqs": {"Queue": [{"name": "a"}, {"name": "b"}]}}
