"""Deploy template.yaml into the emulator through its CloudFormation API.

The SAM template is the one source of truth. For the emulator it is translated offline with
aws-sam-translator (moto does not apply the Serverless transform) after three rewrites that
`sam build`/`sam package` would otherwise do, and with the HTTP API taken out:

- each function's CodeUri becomes a placeholder InlineCode: the local Lambda runtime imports
  the handler (e.g. ``serverless_testbed.handlers.api.handler``) from the installed package,
  which is the very code `sam build` zips;
- the state machine's DefinitionUri becomes the ASL file's text under ``Fn::Sub`` with the
  template's DefinitionSubstitutions (moto ignores DefinitionSubstitutions);
- moto's CloudFormation has no AWS::ApiGatewayV2 resources, so the HTTP API's routes are read
  from the translated template and served by the local API gateway; the ApiUrl output is set
  to that gateway's URL for this stack.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serverless_testbed.errors import UsageError

INLINE_CODE = "# The local Lambda runtime imports the handler from the installed package.\n"
API_RESOURCE_PREFIX = "AWS::ApiGatewayV2::"
CACHE_FORMAT = 1  # bump when what is cached changes meaning


@dataclass(frozen=True)
class Route:
    method: str  # e.g. "POST"
    path: str  # e.g. "/run"
    function_logical_id: str
    signed: bool = False  # AWS_IAM: callers must sign with SigV4


@dataclass(frozen=True)
class HttpApi:
    logical_id: str
    stage: str
    routes: tuple[Route, ...]


@dataclass(frozen=True)
class TranslatedStack:
    template: dict[str, Any]  # plain CloudFormation, ready for create_stack
    apis: tuple[HttpApi, ...]
    api_url_output: str | None  # the output that carries the API's URL, if any


def load_sam_template(path: Path) -> dict[str, Any]:
    from samtranslator.yaml_helper import yaml_parse

    try:
        return yaml_parse(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"template not found: {path}") from None
    except Exception as error:  # yaml errors carry line numbers in their text
        raise UsageError(f"{path}: not a valid template: {error}") from None


def translate(
    template_path: Path,
    parameters: dict[str, str],
    *,
    region: str,
    iam_client: Any,
    api_base_url: str,
) -> TranslatedStack:
    """Translate the SAM template for the emulator; api_base_url is the local gateway's URL
    prefix. iam_client (the emulator's) is asked only for policies by name.

    Translations are cached on disk by content: importing aws-sam-translator alone takes
    about 0.8 s, most of a warm start-up."""
    sam = load_sam_template(template_path)
    definitions = _inline_code_and_definitions(sam, template_path.parent)
    cache_file = _cache_file(sam, parameters, region)
    if cache_file.is_file():
        cfn = json.loads(cache_file.read_text())
    else:
        import boto3
        from samtranslator.parser.parser import Parser
        from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
        from samtranslator.translator.translator import Translator

        policies = ManagedPolicyLoader(iam_client)
        # The translator reads only the region (and partition) from its session.
        region_only = boto3.Session(region_name=region)
        cfn = Translator(None, Parser(), boto_session=region_only).translate(
            sam, parameter_values=dict(parameters), get_managed_policy_map=policies.load
        )
        text = json.dumps(cfn)
        _write_atomically(cache_file, text)
        cfn = json.loads(text)  # the same plain JSON types as a cached translation
    _substitute_definitions(cfn, definitions)
    values = {
        name: str(spec["Default"])
        for name, spec in cfn.get("Parameters", {}).items()
        if "Default" in spec
    } | parameters
    apis = _take_out_http_apis(cfn, values)
    api_url_output = _point_api_url_at_gateway(cfn, apis, api_base_url)
    return TranslatedStack(template=cfn, apis=apis, api_url_output=api_url_output)


def create_stack(
    cloudformation: Any,
    stack_name: str,
    translated: TranslatedStack,
    parameters: dict[str, str],
    timeout_s: float = 60.0,
) -> None:
    """create_stack and wait for CREATE_COMPLETE; a failed stack is a one-line UsageError."""
    declared = translated.template.get("Parameters", {})
    cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(translated.template),
        Parameters=[
            {"ParameterKey": key, "ParameterValue": value}
            for key, value in parameters.items()
            if key in declared
        ],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    deadline = time.monotonic() + timeout_s
    delay = 0.005
    while True:
        stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
        status = stack["StackStatus"]
        if status == "CREATE_COMPLETE":
            return
        if status.endswith("FAILED") or status.startswith("ROLLBACK"):
            reason = stack.get("StackStatusReason", "no reason given")
            raise UsageError(f"stack {stack_name!r} failed to deploy: {status}: {reason}")
        if time.monotonic() > deadline:
            raise UsageError(f"stack {stack_name!r} not created after {timeout_s:.0f} s ({status})")
        time.sleep(delay)  # polling a status with a deadline, not waiting out a race
        delay = min(delay * 2, 0.2)


def _cache_file(sam: dict[str, Any], parameters: dict[str, str], region: str) -> Path:
    import hashlib
    import os

    import samtranslator  # already imported by the YAML parser; cheap

    key = json.dumps(
        [sam, parameters, region, samtranslator.__version__, CACHE_FORMAT], sort_keys=True
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "serverless-testbed" / "sam-translations" / f"{digest}.json"


def _write_atomically(path: Path, text: str) -> None:
    import os
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as temporary:
        temporary.write(text)
    os.replace(temporary.name, path)


def _inline_code_and_definitions(sam: dict[str, Any], base: Path) -> dict[str, str]:
    """Rewrite local code and definition paths in place; return the ASL text per state machine."""
    function_globals = sam.get("Globals", {}).get("Function", {})
    function_globals.pop("CodeUri", None)
    definitions: dict[str, str] = {}
    for logical_id, resource in sam.get("Resources", {}).items():
        properties = resource.setdefault("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function":
            properties.pop("CodeUri", None)
            properties["InlineCode"] = INLINE_CODE
        elif resource.get("Type") == "AWS::Serverless::StateMachine":
            uri = properties.pop("DefinitionUri", None)
            if isinstance(uri, str):
                path = base / uri
                try:
                    definitions[logical_id] = path.read_text()
                except FileNotFoundError:
                    raise UsageError(
                        f"state machine {logical_id}: DefinitionUri {uri} not found at {path}"
                    ) from None
                # Substitutions may stand for numbers ("TimeoutSeconds": ${X}): parse a copy
                # with placeholders; the real text is substituted in _substitute_definitions.
                placeholders = re.sub(r"\$\{[A-Za-z0-9_]+\}", "0", definitions[logical_id])
                properties["Definition"] = json.loads(placeholders)
    return definitions


def _substitute_definitions(cfn: dict[str, Any], definitions: dict[str, str]) -> None:
    """DefinitionSubstitutions applied as Fn::Join (moto ignores the property, and its Fn::Sub
    turns the ASL's "$$" context prefix into "$")."""
    for logical_id, text in definitions.items():
        properties = cfn["Resources"][logical_id]["Properties"]
        substitutions = properties.pop("DefinitionSubstitutions", {})
        properties.pop("Definition", None)
        pieces: list[Any] = []
        for index, piece in enumerate(re.split(r"\$\{([A-Za-z0-9_]+)\}", text)):
            if index % 2 == 0:
                pieces.append(piece)
            elif piece in substitutions:
                pieces.append(substitutions[piece])
            else:
                raise UsageError(f"state machine {logical_id}: no substitution for ${{{piece}}}")
        properties["DefinitionString"] = {"Fn::Join": ["", pieces]}


def _take_out_http_apis(cfn: dict[str, Any], parameters: dict[str, str]) -> tuple[HttpApi, ...]:
    resources = cfn["Resources"]
    api_ids = [rid for rid, r in resources.items() if r["Type"] == "AWS::ApiGatewayV2::Api"]
    apis = []
    for api_id in api_ids:
        body = resources[api_id]["Properties"].get("Body", {})
        routes = tuple(
            Route(
                method.upper(),
                path,
                _integration_function(operation),
                signed=_requires_sigv4(body, operation),
            )
            for path, operations in body.get("paths", {}).items()
            for method, operation in operations.items()
        )
        apis.append(HttpApi(api_id, _stage_of(resources, api_id, parameters), routes))
    removed = {rid for rid, r in resources.items() if r["Type"].startswith(API_RESOURCE_PREFIX)}
    # Permissions that let API Gateway invoke a function mention the API; they go with it.
    removed |= {
        rid
        for rid, r in resources.items()
        if r["Type"] == "AWS::Lambda::Permission" and _mentions(r, removed)
    }
    for rid in removed:
        del resources[rid]
    return tuple(apis)


def _requires_sigv4(body: dict[str, Any], operation: dict[str, Any]) -> bool:
    """True when the route's security (or the API's default) is an IAM (awsSigv4) scheme."""
    schemes = body.get("components", {}).get("securitySchemes", {})
    requirements = operation.get("security", body.get("security", []))
    return any(
        schemes.get(name, {}).get("x-amazon-apigateway-authtype") == "awsSigv4"
        for requirement in requirements
        for name in requirement
    )


def _integration_function(operation: dict[str, Any]) -> str:
    # SAM writes the integration as Fn::Sub "...functions/${ApiFunction.Arn}/invocations".
    uri = json.dumps(operation["x-amazon-apigateway-integration"]["uri"])
    match = re.search(r"functions/\$\{(\w+)\.Arn\}", uri)
    if match is None:
        raise UsageError(f"HTTP API integration {uri} does not name a function of this template")
    return match.group(1)


def _stage_of(resources: dict[str, Any], api_id: str, parameters: dict[str, str]) -> str:
    for resource in resources.values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::ApiGatewayV2::Stage" and properties.get("ApiId") == {
            "Ref": api_id
        }:
            stage = properties.get("StageName", "$default")
            if isinstance(stage, dict) and "Ref" in stage:
                stage = parameters.get(stage["Ref"], stage["Ref"])
            return str(stage)
    return "$default"


def _mentions(resource: dict[str, Any], logical_ids: set[str]) -> bool:
    text = json.dumps(resource)
    return any(f'"{rid}"' in text or f"${{{rid}" in text for rid in logical_ids)


def _point_api_url_at_gateway(
    cfn: dict[str, Any], apis: tuple[HttpApi, ...], api_base_url: str
) -> str | None:
    """Outputs that referred to a removed API now carry the local gateway's URL."""
    found = None
    ids = {api.logical_id for api in apis}
    for key, output in cfn.get("Outputs", {}).items():
        if not _mentions(output, ids):
            continue
        api = next(a for a in apis if _mentions(output, {a.logical_id}))
        stage_path = "" if api.stage == "$default" else f"/{api.stage}"
        output["Value"] = f"{api_base_url}/{api.logical_id}{stage_path}"
        found = key
    return found
