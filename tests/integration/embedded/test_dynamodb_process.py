"""DynamoDB served from its own moto server in a child process of the embedded stack: the
stack's endpoint forwards DynamoDB calls there, functions and ``stack.client("dynamodb")``
call it directly, CloudFormation's tables are made and updated there, a reset at the stack's
endpoint empties it too, and it lives and dies with the stack."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from serverless_testbed.embedded.moto.service_process import ServiceProcess, ServiceProcessFailed
from serverless_testbed.signed_http import signed_post
from tests.integration.embedded.test_health import Stderr, child_running, children
from tests.integration.embedded.test_up_command import READY_TIMEOUT_S, _start_up
from tests.integration.helpers import http_post, wait_until

DYNAMODB_PROCESS = "embedded.moto.service_process"
# No Redis: a SIGKILLed `testbed up` cannot stop its Redis, which would outlive the test.
FREE_PORTS = ("--aws-port", "0", "--api-port", "0", "--no-redis")


def _main_endpoint_client(stack: Any) -> Any:
    return stack._session.client("dynamodb", endpoint_url=stack.urls["aws"])


def _new_table(client: Any) -> str:
    name = f"split-{uuid.uuid4().hex[:10]}"
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    return name


def test_the_stack_serves_dynamodb_from_a_child_process(embedded_stack: Any) -> None:
    pid = embedded_stack.dynamodb_process_pid
    assert pid is not None and pid != os.getpid()
    assert embedded_stack.client("dynamodb").meta.endpoint_url != embedded_stack.urls["aws"]
    parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    assert parent == os.getpid()


def test_a_table_made_through_the_stacks_endpoint_is_served_by_the_child(
    embedded_stack: Any,
) -> None:
    name = _new_table(_main_endpoint_client(embedded_stack))
    _main_endpoint_client(embedded_stack).put_item(TableName=name, Item={"pk": {"S": "via-main"}})

    child = embedded_stack.client("dynamodb")
    assert name in child.list_tables()["TableNames"]
    item = child.get_item(TableName=name, Key={"pk": {"S": "via-main"}}, ConsistentRead=True)
    assert item["Item"] == {"pk": {"S": "via-main"}}


@pytest.fixture(params=["the child", "the stack's endpoint"])
def client(request: pytest.FixtureRequest, embedded_stack: Any) -> Any:
    """A DynamoDB client of the child itself, or of the stack's endpoint (which forwards)."""
    if request.param == "the child":
        return embedded_stack.client("dynamodb")
    return _main_endpoint_client(embedded_stack)


def test_an_undefined_name_in_an_update_expression_is_a_validation_error(client: Any) -> None:
    name = _new_table(client)
    with pytest.raises(client.exceptions.ClientError) as refused:
        client.update_item(
            TableName=name,
            Key={"pk": {"S": "1"}},
            UpdateExpression="SET #typo = :v",
            ExpressionAttributeValues={":v": {"S": "x"}},
        )
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "attribute name: #typo" in refused.value.response["Error"]["Message"]


def test_an_undefined_name_or_value_in_a_condition_or_filter_is_a_validation_error(
    client: Any,
) -> None:
    name = _new_table(client)
    kept = {"pk": {"S": "1"}, "colour": {"S": "kept"}}
    client.put_item(TableName=name, Item=kept)
    refusals = []
    for call in (
        lambda: client.put_item(
            TableName=name,
            Item={"pk": {"S": "1"}, "colour": {"S": "replaced"}},
            ConditionExpression="#typo = :v",
            ExpressionAttributeValues={":v": {"S": "kept"}},
        ),
        lambda: client.scan(TableName=name, FilterExpression="colour = :typo"),
    ):
        with pytest.raises(client.exceptions.ClientError) as refused:
            call()
        refusals.append(refused.value.response)
    assert [answer["ResponseMetadata"]["HTTPStatusCode"] for answer in refusals] == [400, 400]
    assert [answer["Error"]["Code"] for answer in refusals] == ["ValidationException"] * 2
    assert [answer["Error"]["Message"] for answer in refusals] == [
        "Invalid ConditionExpression: An expression attribute name used in the document path "
        "is not defined; attribute name: #typo",
        "Invalid FilterExpression: An expression attribute value used in expression is not "
        "defined; attribute value: :typo",
    ]
    item = client.get_item(TableName=name, Key={"pk": {"S": "1"}}, ConsistentRead=True)
    assert item["Item"] == kept  # the refused PutItem changed nothing


def test_a_table_made_in_the_child_is_served_through_the_stacks_endpoint(
    embedded_stack: Any,
) -> None:
    child = embedded_stack.client("dynamodb")
    name = _new_table(child)
    child.put_item(TableName=name, Item={"pk": {"S": "via-child"}, "n": {"N": "1"}})

    main = _main_endpoint_client(embedded_stack)
    main.update_item(
        TableName=name,
        Key={"pk": {"S": "via-child"}},
        UpdateExpression="SET n = n + :one",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    with pytest.raises(main.exceptions.ConditionalCheckFailedException):
        main.update_item(
            TableName=name,
            Key={"pk": {"S": "absent"}},
            UpdateExpression="SET n = :one",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
    item = child.get_item(TableName=name, Key={"pk": {"S": "via-child"}}, ConsistentRead=True)
    assert item["Item"]["n"] == {"N": "2"}


@pytest.mark.parametrize("signed_with", ["nothing", "other credentials"])
def test_a_forwarded_request_not_signed_with_the_stacks_credentials_is_refused_403(
    embedded_stack: Any, signed_with: str
) -> None:
    url = embedded_stack.urls["aws"]
    headers = {"X-Amz-Target": "DynamoDB_20120810.ListTables"}
    body = b"{}"
    if signed_with == "nothing":
        status, answer = _post(url, body, headers)
    else:
        status, answer = http_post(
            url, body, credentials=Credentials("AKIAOTHER", "not-the-stacks-secret")
        )
    assert status == 403, answer


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/x-amz-json-1.0", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_the_workers_update_lands_in_the_child(embedded_stack: Any) -> None:
    request_id = f"split-{uuid.uuid4().hex[:10]}"
    status, body = http_post(
        f"{embedded_stack.deployment.api_url}/run",
        {"request_id": request_id, "payload": {}},
        credentials=embedded_stack.credentials,
    )
    assert status == 200 and body["status"] == "SUCCEEDED", body
    item = embedded_stack.client("dynamodb").get_item(
        TableName=embedded_stack.deployment.table_name,
        Key={"pk": {"S": request_id}},
        ConsistentRead=True,
    )
    assert "Item" in item


def test_a_table_deployed_through_cloudformation_is_made_in_the_child(
    embedded_stack: Any,
) -> None:
    stack_name = f"split-cfn-{uuid.uuid4().hex[:6]}"
    deployment = embedded_stack.deploy(stack_name)  # CloudFormation CreateStack

    child = embedded_stack.client("dynamodb")
    described = child.describe_table(TableName=deployment.table_name)["Table"]
    assert described["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert (
        deployment.table_name in _main_endpoint_client(embedded_stack).list_tables()["TableNames"]
    )
    request_id = f"cfn-{uuid.uuid4().hex[:10]}"
    status, body = http_post(
        f"{deployment.api_url}/run",
        {"request_id": request_id, "payload": {}},
        credentials=embedded_stack.credentials,
    )
    assert status == 200 and body["status"] == "SUCCEEDED", body
    item = child.get_item(
        TableName=deployment.table_name, Key={"pk": {"S": request_id}}, ConsistentRead=True
    )
    assert "Item" in item


def test_a_child_that_cannot_start_is_a_one_line_error() -> None:
    process = ServiceProcess(
        "dynamodb", Credentials("AKIATEST", "secret"), module="serverless_testbed.no_such"
    ).start()
    try:
        with pytest.raises(ServiceProcessFailed) as failed:
            process.wait_serving()
    finally:
        process.stop()
    message = str(failed.value)
    assert "\n" not in message
    assert "dynamodb server process exited" in message
    assert "No module named serverless_testbed.no_such" in message


def _pid_gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"  # exited, not yet reaped


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_the_child_does_not_outlive_testbed_up(stop: signal.Signals) -> None:
    up = _start_up(*FREE_PORTS)
    try:
        up.read_until("ready", READY_TIMEOUT_S)
        child = child_running(up, DYNAMODB_PROCESS)

        up.process.send_signal(stop)
        up.process.wait(timeout=60)

        wait_until(lambda: _pid_gone(child), timeout_s=15, what=f"pid {child} to exit")
    finally:
        if up.process.poll() is None:
            up.process.kill()
            up.process.wait()


def test_a_killed_child_stops_the_stack_with_a_line_naming_it(tmp_path: Path) -> None:
    up = _start_up(*FREE_PORTS, "--json", str(tmp_path / "stack.json"))
    stderr = Stderr(up.process)
    try:
        up.read_until("ready", READY_TIMEOUT_S)

        os.kill(child_running(up, DYNAMODB_PROCESS), signal.SIGKILL)

        assert up.process.wait(timeout=60) == 1
        failed = wait_until(
            lambda: stderr.saying("the dynamodb process died"), timeout_s=10, what="the line"
        )
        assert "killed by signal 9" in failed[0]
    finally:
        if up.process.poll() is None:
            up.process.kill()
            up.process.wait()


def _listening_port(pid: int) -> int:
    """The one TCP port process ``pid`` listens on (read from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    ports = set()
    for row in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = row.split()
        if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    assert len(ports) == 1, ports
    return ports.pop()


def test_a_reset_at_the_stacks_endpoint_empties_dynamodbs_process_too(tmp_path: Path) -> None:
    description = tmp_path / "stack.json"
    up = _start_up("--aws-port", "0", "--api-port", "0", "--no-redis", "--json", str(description))
    try:
        up.read_until("ready", READY_TIMEOUT_S)
        described = json.loads(description.read_text())
        key = described["credentials"]["AWS_ACCESS_KEY_ID"]
        secret = described["credentials"]["AWS_SECRET_ACCESS_KEY"]
        child_url = f"http://127.0.0.1:{_listening_port(child_running(up, DYNAMODB_PROCESS))}"
        clients = {
            where: boto3.client(
                "dynamodb",
                endpoint_url=url,
                region_name="us-east-1",
                aws_access_key_id=key,
                aws_secret_access_key=secret,
            )
            for where, url in (("main", described["endpoints"]["aws"]), ("child", child_url))
        }
        name = _new_table(clients["main"])
        clients["main"].put_item(TableName=name, Item={"pk": {"S": "before-reset"}})
        assert name in clients["child"].list_tables()["TableNames"]

        status, answer = signed_post(
            f"{described['endpoints']['aws']}/moto-api/reset",
            b"",
            credentials=Credentials(key, secret),
            region="us-east-1",
            timeout_s=30,
        )

        assert status == 200, answer
        for where, client in clients.items():
            assert client.list_tables()["TableNames"] == [], where
            with pytest.raises(client.exceptions.ResourceNotFoundException):
                client.get_item(TableName=name, Key={"pk": {"S": "before-reset"}})
    finally:
        up.process.terminate()
        up.process.wait(timeout=60)


def test_an_unsigned_reset_is_refused_and_resets_nothing(embedded_stack: Any) -> None:
    child = embedded_stack.client("dynamodb")
    name = _new_table(child)

    status, _ = _post(f"{embedded_stack.urls['aws']}/moto-api/reset", b"", {})

    assert status == 403
    assert name in child.list_tables()["TableNames"]
    assert embedded_stack.deployment.table_name in child.list_tables()["TableNames"]


def _table_template(**properties: Any) -> str:
    table = {
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        **properties,
    }
    return json.dumps(
        {
            "Resources": {"Table": {"Type": "AWS::DynamoDB::Table", "Properties": table}},
            "Outputs": {
                "Name": {"Value": {"Ref": "Table"}},
                "Arn": {"Value": {"Fn::GetAtt": ["Table", "Arn"]}},
            },
        }
    )


def _outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


@pytest.fixture
def table_stack(embedded_stack: Any) -> Any:
    cloudformation = embedded_stack.client("cloudformation")
    stack_name = f"table-{uuid.uuid4().hex[:8]}"
    cloudformation.create_stack(StackName=stack_name, TemplateBody=_table_template())
    yield stack_name
    cloudformation.delete_stack(StackName=stack_name)


def test_update_stack_changes_a_table_in_place_in_dynamodbs_process(
    embedded_stack: Any, table_stack: str
) -> None:
    cloudformation = embedded_stack.client("cloudformation")
    child = embedded_stack.client("dynamodb")
    name = _outputs(cloudformation, table_stack)["Name"]
    child.put_item(TableName=name, Item={"pk": {"S": "kept"}, "g": {"S": "x"}})
    gsi = {
        "IndexName": "by-g",
        "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "ALL"},
        "ProvisionedThroughput": {"ReadCapacityUnits": 2, "WriteCapacityUnits": 2},
    }

    cloudformation.update_stack(
        StackName=table_stack,
        TemplateBody=_table_template(
            BillingMode="PROVISIONED",
            ProvisionedThroughput={"ReadCapacityUnits": 7, "WriteCapacityUnits": 3},
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "g", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[gsi],
            StreamSpecification={"StreamViewType": "NEW_IMAGE"},
            DeletionProtectionEnabled=True,
            Tags=[{"Key": "team", "Value": "testbed"}],
        ),
    )

    table = child.describe_table(TableName=name)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 7
    assert [index["IndexName"] for index in table["GlobalSecondaryIndexes"]] == ["by-g"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert table["DeletionProtectionEnabled"] is True
    tags = child.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"]
    assert tags == [{"Key": "team", "Value": "testbed"}]
    assert _outputs(cloudformation, table_stack) == {"Name": name, "Arn": table["TableArn"]}
    item = child.get_item(TableName=name, Key={"pk": {"S": "kept"}}, ConsistentRead=True)
    assert item["Item"]["g"] == {"S": "x"}  # the same table, changed, not a new one
    found = child.query(
        TableName=name,
        IndexName="by-g",
        KeyConditionExpression="g = :g",
        ExpressionAttributeValues={":g": {"S": "x"}},
    )
    assert found["Count"] == 1

    cloudformation.update_stack(StackName=table_stack, TemplateBody=_table_template())

    table = child.describe_table(TableName=name)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert "GlobalSecondaryIndexes" not in table or table["GlobalSecondaryIndexes"] == []
    assert table.get("StreamSpecification", {}).get("StreamEnabled", False) is False
    assert table["DeletionProtectionEnabled"] is False
    assert child.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"] == []


def test_update_stack_replaces_a_table_whose_key_changes_in_dynamodbs_process(
    embedded_stack: Any, table_stack: str
) -> None:
    cloudformation = embedded_stack.client("cloudformation")
    child = embedded_stack.client("dynamodb")
    old_name = _outputs(cloudformation, table_stack)["Name"]

    cloudformation.update_stack(
        StackName=table_stack,
        TemplateBody=_table_template(
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        ),
    )

    new_name = _outputs(cloudformation, table_stack)["Name"]
    assert new_name != old_name
    names = child.list_tables()["TableNames"]
    assert new_name in names and old_name not in names
    key = child.describe_table(TableName=new_name)["Table"]["KeySchema"]
    assert key == [{"AttributeName": "id", "KeyType": "HASH"}]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": True}}, "TimeToLive"),
        (
            {"TableName": "fixed-name", "KeySchema": [{"AttributeName": "pk", "KeyType": "RANGE"}]},
            "replaces the table",
        ),
    ],
    ids=["unsupported property", "replacing a named table"],
)
def test_an_update_stack_the_stack_cannot_make_fails_naming_why(
    embedded_stack: Any, change: dict[str, Any], named: str
) -> None:
    cloudformation = embedded_stack.client("cloudformation")
    stack_name = f"table-{uuid.uuid4().hex[:8]}"
    first = {"TableName": f"fixed-{stack_name}"} if "TableName" in change else {}
    cloudformation.create_stack(StackName=stack_name, TemplateBody=_table_template(**first))
    try:
        if "TableName" in change:
            change = {**change, "TableName": first["TableName"]}
        with pytest.raises(ClientError) as failed:
            cloudformation.update_stack(
                StackName=stack_name, TemplateBody=_table_template(**change)
            )
        assert named in str(failed.value)
    finally:
        cloudformation.delete_stack(StackName=stack_name)


def test_without_its_process_dynamodb_is_the_stacks_own_and_update_stack_changes_tables(
    tmp_path: Path,
) -> None:
    description = tmp_path / "stack.json"
    up = _start_up(
        "--aws-port", "0", "--api-port", "0", "--no-redis", "--no-dynamodb-process",
        "--json", str(description),
    )  # fmt: skip
    try:
        up.read_until("ready", READY_TIMEOUT_S)
        assert not [cmd for cmd in children(up.process.pid).values() if DYNAMODB_PROCESS in cmd]
        described = json.loads(description.read_text())
        session = boto3.Session(
            aws_access_key_id=described["credentials"]["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=described["credentials"]["AWS_SECRET_ACCESS_KEY"],
            region_name="us-east-1",
        )
        url = described["endpoints"]["aws"]
        cloudformation = session.client("cloudformation", endpoint_url=url)
        dynamodb = session.client("dynamodb", endpoint_url=url)
        cloudformation.create_stack(StackName="tables", TemplateBody=_table_template())
        name = _outputs(cloudformation, "tables")["Name"]

        cloudformation.update_stack(
            StackName="tables",
            TemplateBody=_table_template(
                BillingMode="PROVISIONED",
                ProvisionedThroughput={"ReadCapacityUnits": 4, "WriteCapacityUnits": 4},
                Tags=[{"Key": "team", "Value": "testbed"}],
            ),
        )

        table = dynamodb.describe_table(TableName=name)["Table"]
        assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 4
        tags = dynamodb.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"]
        assert tags == [{"Key": "team", "Value": "testbed"}]
        cloudformation.delete_stack(StackName="tables")
        assert name not in dynamodb.list_tables()["TableNames"]
    finally:
        up.process.terminate()
        up.process.wait(timeout=60)


def test_ctrl_c_at_the_terminal_stops_testbed_up_and_its_child_quietly() -> None:
    up = _start_up("--aws-port", "0", "--api-port", "0", "--no-redis", own_group=True)
    process = up.process
    try:
        assert process.stderr is not None
        up.read_until("ready", READY_TIMEOUT_S)
        child = next(pid for pid, cmd in children(process.pid).items() if DYNAMODB_PROCESS in cmd)

        os.killpg(process.pid, signal.SIGINT)  # what the terminal sends the foreground group

        assert process.wait(timeout=60) == 0
        stderr = process.stderr.read()
        assert "Traceback" not in stderr and "died" not in stderr, stderr
        assert stderr.splitlines()[-2:] == ["stopping...", "stopped"]
        wait_until(lambda: _pid_gone(child), timeout_s=15, what=f"pid {child} to exit")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_signals_while_the_child_starts_stop_testbed_up_and_the_child() -> None:
    process = _start_up("--aws-port", "0", "--api-port", "0", "--no-redis", own_group=True).process
    try:
        child = wait_until(
            lambda: [pid for pid, cmd in children(process.pid).items() if DYNAMODB_PROCESS in cmd],
            timeout_s=READY_TIMEOUT_S,
            what="the dynamodb process to start",
            interval_s=0.005,
        )[0]

        process.send_signal(signal.SIGTERM)
        process.send_signal(signal.SIGINT)  # a second one, impatient, while the first is handled

        assert process.wait(timeout=60) == 0
        wait_until(lambda: _pid_gone(child), timeout_s=15, what=f"pid {child} to exit")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
