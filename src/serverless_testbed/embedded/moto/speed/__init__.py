"""Patches that only make moto's server start and answer faster; behaviour stays moto's.

- botocore's data files are parsed once per process instead of once per session: every
  boto3 ``Session()`` has its own loader, and moto's EC2 model (imported by the Step
  Functions interpreter, through Batch) builds three sessions just to list EC2's regions,
  parsing EC2's 0.15 s API model each time. moto's server reads its service models
  through one loader (it built one per service, each listing botocore's ~400 data
  directories: 50 ms per service), with moto's own additions to a model merged into a copy
  as moto's loader merges them (SQS's query-protocol error codes among them: without them a
  missing queue was a generic error, not ``QueueDoesNotExist``).
- The Step Functions interpreter's Batch integration only needs ``moto.batch.utils``, but
  importing it ran ``moto.batch``'s package, which imports all of EC2's models (about 1 s
  of a 2 s start). The leaf module is imported on its own; ``moto.batch`` itself still
  imports normally the first time anything asks for it.
- The Step Functions interpreter reuses one boto3 client per (region, service, endpoint)
  instead of building a new one for every task (about 20 ms each), which dominated warm
  latency. These clients also sign with the embedded stack's credentials (moto's own use
  fixed ones, which the stack's endpoint refuses): that part is not about speed.
- Every execution of a state machine evaluates the one program parsed from its definition
  instead of parsing it again with ANTLR (9 ms of CPU for the pipeline's, before the
  ExecutionStarted event, shared with every other request the server handles). The
  interpreter keeps an execution's state in its Environment; its components hold none (a
  Map state's iterations share one program on several threads in moto too). The deep copy
  per execution this replaces cost 0.3 ms of CPU under the server's lock.
- A backend's list of regions comes from botocore's endpoint data instead of loading the
  service's whole API model (0.1-0.3 s for each service's first request).
- The server's request routing remembers which backend serves a host: moto lists its own
  package directory (about 200 stat calls) and tries hundreds of URL patterns on every
  request, under one global lock. Each response class's list of action methods is read
  once, not with ``inspect.getmembers`` on every request (~0.3 ms each).
- The Step Functions interpreter parses each JSONPath (``$$.Task.Token``, a ResultPath...)
  once per process, not at every evaluation: jsonpath_ng builds its PLY lexer and parser for
  every ``parse`` call (~8% of the stack process's CPU at 8 executions in flight).
  Parsed paths are not changed by ``find`` or ``update``, so one object serves every caller.
- Per service, one module each: ``dynamodb.py`` (UpdateItem's expressions parsed, copied
  and validated for less CPU), ``stepfunctions.py`` (executions found through an index, not
  a scan of every execution kept), ``sqs.py`` (ReceiveMessage and SendMessage without
  rebuilding every queue attribute). Their docstrings say what each patch saves and why
  the behaviour stays moto's.

Disabling any of these leaves every pipeline test green: tests/unit/embedded/
test_moto_patches.py checks that each is in effect, benchmarks/ measure what they save.
"""

from __future__ import annotations

import copy
import threading
from functools import cache, lru_cache
from typing import Any

from serverless_testbed.embedded.moto.patching import Patch, patch, replace, replace_in_importers
from serverless_testbed.embedded.moto.speed import dynamodb, sqs, stepfunctions
from serverless_testbed.embedded.moto.speed.limits import PARSED_KEPT

# The module that defines the Step Functions interpreter's client factory, and the name that
# 13 of the interpreter's modules import from it.
BOTO_CLIENT_MODULE = "moto.stepfunctions.parser.asl.utils.boto_client"
BOTO_CLIENT_FOR = "boto_client_for"


def apply() -> list[Patch]:
    """Apply every speed patch. The first ones change what later imports cost: apply first."""
    botocore_data_once = _share_botocore_data_between_sessions()
    _import_batch_utils_without_batch_models()
    return [
        *botocore_data_once,
        *_reuse_interpreter_clients(),
        _parse_each_definition_once(),
        _list_regions_without_service_models(),
        *_route_requests_from_memory(),
        *_parse_json_paths_once(),
        *dynamodb.apply(),
        *stepfunctions.apply(),
        *sqs.apply(),
    ]


def apply_for_dynamodb() -> list[Patch]:
    """The patches that matter to a server answering only DynamoDB (service_process.py):
    the others import the Step Functions interpreter, ~0.3 s of its start for nothing."""
    return [
        *_share_botocore_data_between_sessions(),
        _list_regions_without_service_models(),
        *_route_requests_from_memory(),
        *dynamodb.apply(),
    ]


@cache
def shared_loader() -> Any:
    """One botocore loader for what moto's server reads itself (models, endpoint data)."""
    import botocore.loaders

    return botocore.loaders.create_loader()


def _share_botocore_data_between_sessions() -> list[Patch]:
    import botocore.loaders
    import moto.core.utils

    # Within one session botocore already hands the same parsed dict to every client
    # (``instance_cache``); this widens that to the process, keyed by the file read. The
    # files are part of the installed package: they do not change while it runs.
    loaded: dict[str, Any] = {}

    @patch(botocore.loaders.JSONFileLoader, "load_file")
    def load_once(original: Any, self: Any, file_path: str) -> Any:
        if file_path not in loaded:
            loaded[file_path] = original(self, file_path)
        return loaded[file_path]

    @patch(moto.core.utils, "_load_service_model")
    def load_service_model(original: Any, service_name: str, model_name: str) -> Any:
        # botocore's parse, shared with the process's sessions, and the "moto-extras" moto's
        # own loader merges in (SQS: its query-protocol error codes, result wrappers and
        # error namespace), merged into a copy so that the shared parse stays botocore's.
        model = shared_loader().load_service_model(service_name, model_name)
        extras = _moto_extras(service_name, model_name)
        if not extras:
            return model
        merged = copy.deepcopy(model)
        botocore.loaders.ExtrasProcessor().process(merged, extras)
        return merged

    return [load_once, load_service_model]


@cache
def _moto_extras_loader() -> Any:
    """moto's loader: it finds moto's ``<model>.moto-extras`` files."""
    from moto.core.loaders import create_loader

    return create_loader()


def _moto_extras(service_name: str, model_name: str) -> list[Any]:
    loader = _moto_extras_loader()
    api_version = loader.determine_latest_version(service_name, model_name)
    return list(loader._find_extras(service_name, model_name, api_version))


def _import_batch_utils_without_batch_models() -> None:
    # Not a change of moto's code, so no Patch: the test checks sys.modules instead.
    from serverless_testbed.embedded.moto.leaf_import import import_leaf

    import_leaf("moto.batch", "utils")


# The credentials the Step Functions interpreter's clients sign with: moto's own are fixed
# ("ak"/"sk"); the embedded stack's endpoint takes only its own (set_interpreter_credentials).
_interpreter_credentials: tuple[str, str] = ("ak", "sk")


def set_interpreter_credentials(access_key: str, secret_key: str) -> None:
    global _interpreter_credentials
    _interpreter_credentials = (access_key, secret_key)


def _reuse_interpreter_clients() -> list[Patch]:
    import importlib

    import boto3
    from botocore.config import Config
    from moto.core.models import botocore_stubber
    from moto.settings import moto_server_port
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds

    boto_client = importlib.import_module(BOTO_CLIENT_MODULE)

    @cache
    def client_for(region: str, service: str, endpoint: str | None, key: tuple[str, str]) -> Any:
        # As moto's boto_client_for, but signed with the stack's credentials.
        return boto3.client(
            service_name=service,
            region_name=region,
            aws_access_key_id=key[0],
            aws_secret_access_key=key[1],
            config=Config(
                parameter_validation=False,
                retries={"max_attempts": 0, "total_max_attempts": 1},
                connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
            ),
            **({"endpoint_url": endpoint} if endpoint else {}),
        )

    @patch(boto_client, BOTO_CLIENT_FOR)
    def boto_client_for(
        original: Any, region: str, service: str, state_credentials: Any = None
    ) -> Any:
        # The interpreter's clients use the same credentials whatever state_credentials
        # says, so one client per (region, service), endpoint and credentials is equivalent
        # and thread-safe; the endpoint is part of the key, as a later stack may use another
        # port (and other credentials).
        endpoint = None if botocore_stubber.enabled else f"http://localhost:{moto_server_port()}"
        return client_for(region, service, endpoint, _interpreter_credentials)

    # Modules imported later get the replacement from the module patched above.
    return [
        boto_client_for,
        *replace_in_importers(
            "moto", BOTO_CLIENT_FOR, boto_client_for.original, boto_client_for.new
        ),
    ]


def _parse_each_definition_once() -> Patch:
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    programs: dict[str, Any] = {}
    parsing = threading.Lock()

    @patch(ExecutionWorker, "_get_evaluation_entrypoint")
    def program_of_this_execution(original: Any, self: Any) -> Any:
        # Every execution of a definition evaluates the same parsed program. The interpreter
        # keeps an evaluation's state in its Environment, never in the components: a Map
        # state's iterations already evaluate one program on several threads at once.
        definition = self._evaluation_details.state_machine_details.definition
        program = programs.get(definition)
        if program is None:
            program = original(self)
            _name_every_heap_slot(program)
            with parsing:
                program = programs.setdefault(definition, program)
        return program

    return program_of_this_execution


def _name_every_heap_slot(program: Any) -> None:
    """Give each component its heap key now. The interpreter names a component's slot in
    an execution's heap the first time it asks (a random id, kept on the component), so two
    executions asking at once could each name it differently and lose a value."""
    from moto.stepfunctions.parser.asl.component.component import Component
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    seen: set[int] = set()
    pending: list[Any] = [program]
    while pending:
        value = pending.pop()
        if isinstance(value, (list, tuple, set, frozenset)):
            pending.extend(value)
        elif isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, Component) and id(value) not in seen:
            seen.add(id(value))
            if isinstance(value, EvalComponent):
                value.heap_key  # noqa: B018 (the property names the slot on first read)
            pending.extend(vars(value).values())


def _list_regions_without_service_models() -> Patch:
    from moto.core.base_backend import AccountSpecificBackend

    @cache
    def every_region() -> tuple[str, ...]:
        endpoints = shared_loader().load_data("endpoints")
        return tuple(region for p in endpoints["partitions"] for region in p["regions"])

    @patch(AccountSpecificBackend, "_generate_regions")
    def generate_regions(original: Any, self: Any, service_name: str) -> list[str]:
        # A superset of each service's regions: moto only uses the list to accept names.
        return list(every_region())

    return generate_regions


def _route_requests_from_memory() -> list[Patch]:
    import moto.core.responses
    from moto import backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    modules = tuple(backends.list_of_moto_modules())
    # The installed package does not change while it runs.
    listed_once = replace(backends, "list_of_moto_modules", lambda: modules)

    known: dict[str | None, Any] = {}

    @patch(DomainDispatcherApplication, "get_backend_for_host")
    def get_backend_for_host(original: Any, self: Any, host: str | None) -> Any:
        # Called under the dispatcher's own lock, so the dict needs no lock of its own.
        if host not in known:
            known[host] = original(self, host)
        return known[host]

    names_of: dict[type, list[str]] = {}

    @patch(moto.core.responses, "method_names_from_class")
    def method_names_from_class(original: Any, response_class: type) -> list[str]:
        # Classes do not change while serving; a copy keeps the caller's list its own.
        if response_class not in names_of:
            names_of[response_class] = original(response_class)
        return list(names_of[response_class])

    return [listed_once, get_backend_for_host, method_names_from_class]


def _parse_json_paths_once() -> list[Patch]:
    import importlib

    holders = [
        importlib.import_module("moto.stepfunctions.parser.asl.utils.json_path"),
        importlib.import_module("moto.stepfunctions.parser.asl.component.common.path.result_path"),
    ]
    patches = []
    for module in holders:  # each imports its own flavour of parse (jsonpath_ng or .ext)
        parse_once = lru_cache(maxsize=PARSED_KEPT)(vars(module)["parse"])
        patches.append(replace(module, "parse", parse_once))
    return patches
