"""Apply a translated CloudFormation template through each service's own API.

Why not moto's CloudFormation API for the default embedded stack: importing it imports every
moto service model (about 2.3 s here), which alone would break the stack's ~1 s start-up.
This applier handles the resource types the pipeline template uses, resolves the intrinsic
functions SAM emits, creates resources in dependency order with CloudFormation-style physical
names, and resolves the Outputs. `EmbeddedStack.deploy()` still goes through the real
CloudFormation API, which is how the remote path is proven offline.
"""

from __future__ import annotations

import json
import re
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from typing import Any

from serverless_testbed.errors import UsageError

ACCOUNT_ID = "123456789012"  # moto's default account


@dataclass
class Resource:
    logical_id: str
    physical_id: str  # what Ref returns
    attributes: dict[str, str] = field(default_factory=dict)  # what Fn::GetAtt returns


@dataclass
class AppliedStack:
    name: str
    resources: dict[str, Resource]
    outputs: dict[str, str]


Clients = Callable[[str], Any]  # service name -> boto3 client of the emulator


def apply_template(
    template: dict[str, Any],
    stack_name: str,
    parameters: dict[str, str],
    region: str,
    clients: Clients,
) -> AppliedStack:
    values = _parameter_values(template, parameters)
    pseudo = {
        "AWS::Region": region,
        "AWS::AccountId": ACCOUNT_ID,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": stack_name,
        "AWS::NoValue": None,
    }
    resolver = _Resolver({**values, **pseudo}, {})
    definitions = template.get("Resources", {})
    for logical_id in _creation_order(definitions):
        definition = definitions[logical_id]
        create = _CREATORS.get(definition["Type"])
        if create is None:
            raise UsageError(
                f"resource {logical_id}: type {definition['Type']} is not supported by the "
                "embedded stack's direct deploy (EmbeddedStack.deploy uses CloudFormation)"
            )
        properties = resolver.resolve(definition.get("Properties", {}))
        name = _physical_name(stack_name, logical_id)
        resolver.resources[logical_id] = create(clients, logical_id, name, properties, region)
    outputs = {
        key: str(resolver.resolve(output["Value"]))
        for key, output in template.get("Outputs", {}).items()
    }
    return AppliedStack(stack_name, resolver.resources, outputs)


def _parameter_values(template: dict[str, Any], given: dict[str, str]) -> dict[str, str]:
    declared = template.get("Parameters", {})
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise UsageError(f"unknown template parameter(s): {', '.join(unknown)}")
    values = {}
    for name, spec in declared.items():
        if name in given:
            value = given[name]
        elif "Default" in spec:
            value = str(spec["Default"])
        else:
            raise UsageError(f"template parameter {name} has no default: give a value")
        allowed = spec.get("AllowedValues")
        if allowed and value not in [str(a) for a in allowed]:
            raise UsageError(f"template parameter {name}={value!r}: allowed are {allowed}")
        values[name] = value
    return values


def _creation_order(definitions: dict[str, Any]) -> list[str]:
    graph = {}
    for logical_id, definition in definitions.items():
        depends = definition.get("DependsOn", [])
        depends = [depends] if isinstance(depends, str) else list(depends)
        graph[logical_id] = {d for d in _references(definition) | set(depends) if d in definitions}
    try:
        return list(TopologicalSorter(graph).static_order())
    except CycleError as error:
        raise UsageError(f"circular dependency between resources: {error.args[1]}") from None


def _references(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                target = value[0] if isinstance(value, list) else value.split(".")[0]
                found.add(target)
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", text)}
            found |= _references(value)
    elif isinstance(node, list):
        for item in node:
            found |= _references(item)
    return found


class _Resolver:
    def __init__(self, values: dict[str, Any], resources: dict[str, Resource]) -> None:
        self.values = values
        self.resources = resources

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [r for r in (self.resolve(item) for item in node) if r is not None]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, value),) = node.items()
            intrinsics: dict[str, Callable[[Any], Any]] = {
                "Ref": self._ref,
                "Fn::GetAtt": self._get_att,
                "Fn::Sub": self._sub,
                "Fn::Join": self._join,
                "Fn::Select": self._select,
            }
            intrinsic = intrinsics.get(key)
            if intrinsic:
                return intrinsic(value)
            if key.startswith("Fn::"):
                raise UsageError(f"intrinsic {key} is not supported by the direct deploy")
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in node.items()) if v is not None}

    def _ref(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        if name in self.resources:
            return self.resources[name].physical_id
        raise UsageError(f"Ref to unknown name {name}")

    def _get_att(self, value: Any) -> str:
        logical_id, attribute = value if isinstance(value, list) else value.split(".", 1)
        try:
            return self.resources[logical_id].attributes[attribute]
        except KeyError:
            raise UsageError(f"Fn::GetAtt {logical_id}.{attribute} is not available") from None

    def _sub(self, value: Any) -> str:
        text, variables = (
            (value[0], self.resolve(value[1])) if isinstance(value, list) else (value, {})
        )

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name:
                return self._get_att(name)
            return str(self._ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def _join(self, value: list[Any]) -> str:
        delimiter, items = value
        return delimiter.join(str(i) for i in self.resolve(items))

    def _select(self, value: list[Any]) -> Any:
        index, items = value
        return self.resolve(items)[int(self.resolve(index))]


def _physical_name(stack_name: str, logical_id: str) -> str:
    suffix = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(12))
    return f"{stack_name}-{logical_id}-{suffix}"[:64]


# -- one creator per resource type ------------------------------------------------------------
def _queue(clients: Clients, logical_id: str, name: str, props: dict, region: str) -> Resource:
    name = props.get("QueueName", name[:80])
    attributes = {
        key: json.dumps(value) if isinstance(value, dict) else str(value)
        for key, value in props.items()
        if key not in ("QueueName", "Tags")
    }
    url = clients("sqs").create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{name}"
    return Resource(logical_id, url, {"Arn": arn, "QueueName": name, "QueueUrl": url})


def _table(clients: Clients, logical_id: str, name: str, props: dict, region: str) -> Resource:
    name = props.pop("TableName", name)
    props.pop("Tags", None)
    description = clients("dynamodb").create_table(TableName=name, **props)["TableDescription"]
    attributes = {"Arn": description["TableArn"]}
    if "LatestStreamArn" in description:
        attributes["StreamArn"] = description["LatestStreamArn"]
    return Resource(logical_id, name, attributes)


def _role(clients: Clients, logical_id: str, name: str, props: dict, region: str) -> Resource:
    iam = clients("iam")
    name = props.get("RoleName", name)
    role = iam.create_role(
        RoleName=name,
        Path=props.get("Path", "/"),
        AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]),
    )["Role"]
    for arn in props.get("ManagedPolicyArns", []):
        # moto loads no AWS-managed policies by default (and enforces no policy at all).
        if not arn.startswith("arn:aws:iam::aws:policy/"):
            iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    for policy in props.get("Policies", []):
        # moto refuses a document without Version (IAM would read it as 2008-10-17).
        document = {"Version": "2012-10-17", **policy["PolicyDocument"]}
        iam.put_role_policy(
            RoleName=name, PolicyName=policy["PolicyName"], PolicyDocument=json.dumps(document)
        )
    return Resource(logical_id, name, {"Arn": role["Arn"], "RoleId": role["RoleId"]})


def _function(clients: Clients, logical_id: str, name: str, props: dict, region: str) -> Resource:
    import io
    import zipfile

    code = props["Code"]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("index.py", code.get("ZipFile", ""))
    keep = ("Handler", "Runtime", "Role", "Timeout", "MemorySize", "Environment", "Architectures")
    function = clients("lambda").create_function(
        FunctionName=props.get("FunctionName", name),
        Code={"ZipFile": archive.getvalue()},
        **{key: props[key] for key in keep if key in props},
    )
    if "ReservedConcurrentExecutions" in props:  # a separate call in Lambda's API
        clients("lambda").put_function_concurrency(
            FunctionName=function["FunctionName"],
            ReservedConcurrentExecutions=int(props["ReservedConcurrentExecutions"]),
        )
    return Resource(logical_id, function["FunctionName"], {"Arn": function["FunctionArn"]})


def _mapping(clients: Clients, logical_id: str, name: str, props: dict, region: str) -> Resource:
    mapping = clients("lambda").create_event_source_mapping(**props)
    return Resource(logical_id, mapping["UUID"], {})


def _state_machine(
    clients: Clients, logical_id: str, name: str, props: dict, region: str
) -> Resource:
    definition = props["DefinitionString"]
    if "DefinitionSubstitutions" in props:
        for key, value in props["DefinitionSubstitutions"].items():
            definition = definition.replace("${" + key + "}", str(value))
    machine = clients("stepfunctions").create_state_machine(
        name=props.get("StateMachineName", name[:80]),
        definition=definition,
        roleArn=props["RoleArn"],
        type=props.get("StateMachineType", "STANDARD"),
    )
    arn = machine["stateMachineArn"]
    return Resource(logical_id, arn, {"Arn": arn, "Name": arn.rsplit(":", 1)[-1]})


def _nothing_to_do(
    clients: Clients, logical_id: str, name: str, props: dict, region: str
) -> Resource:
    # Lambda permissions are not enforced by the emulator; the template's unit tests check them.
    return Resource(logical_id, name, {})


_CREATORS: dict[str, Callable[..., Resource]] = {
    "AWS::SQS::Queue": _queue,
    "AWS::DynamoDB::Table": _table,
    "AWS::IAM::Role": _role,
    "AWS::Lambda::Function": _function,
    "AWS::Lambda::EventSourceMapping": _mapping,
    "AWS::StepFunctions::StateMachine": _state_machine,
    "AWS::Lambda::Permission": _nothing_to_do,
}
