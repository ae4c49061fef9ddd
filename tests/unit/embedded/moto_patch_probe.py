"""Installs the embedded stack's moto patches in a process of its own and reports, as JSON on
stdout, what test_moto_patches.py asserts: which targets exist before, which patches are
applied after, and whether each speed patch is in effect.

moto's state and the patches are process-wide, and unit tests share one process: hence a
process of its own. Run as ``python -m tests.unit.embedded.moto_patch_probe exists TARGET...``
(before any patch: does each target exist?) or ``... install`` (after install(): what is
applied and in effect). Two processes, as resolving the targets imports moto in an order
install() would not.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from serverless_testbed.embedded.moto import patches, patching, speed
from serverless_testbed.emulation.invoke import Invoked
from tests.unit.embedded.moto_service_speed_checks import service_speed_checks

DEFINITION = json.dumps(
    {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}, sort_keys=True
)


def resolve(target: str) -> bool:
    """Whether ``module[.Class].attribute`` exists in what is installed."""
    parts = target.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            owner: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for name in parts[split:-1]:
            owner = getattr(owner, name, None)
        if owner is None:
            return False
        name = parts[-1]
        return hasattr(owner, name) or (
            isinstance(owner, type) and patching.assigned_in_init(owner, name)
        )
    return False


def modules_importing_boto_client_for() -> list[str]:
    """Every moto module whose source imports the interpreter's client factory by name."""
    import moto

    root = Path(moto.__file__).parent
    pattern = re.compile(
        rf"^from {re.escape(speed.BOTO_CLIENT_MODULE)} import .*\b{speed.BOTO_CLIENT_FOR}\b",
        re.MULTILINE,
    )
    return sorted(
        "moto." + ".".join(path.relative_to(root).with_suffix("").parts)
        for path in root.rglob("*.py")
        if pattern.search(path.read_text(encoding="utf-8"))
    )


class Counted:
    """Replace ``owner.name`` by a wrapper counting its calls, for the length of a block."""

    def __init__(self, owner: Any, name: str) -> None:
        self.owner, self.name, self.calls = owner, name, 0
        self.original = vars(owner)[name]

    def __enter__(self) -> Counted:
        original = self.original
        unwrapped = original.__func__ if isinstance(original, staticmethod) else original

        def counting(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return unwrapped(*args, **kwargs)

        wrapper: Any = staticmethod(counting) if isinstance(original, staticmethod) else counting
        setattr(self.owner, self.name, wrapper)
        return self

    def __exit__(self, *exc: object) -> None:
        setattr(self.owner, self.name, self.original)


def check_botocore_data_once() -> bool:
    import botocore.loaders
    import moto.core.utils

    first = botocore.loaders.create_loader().load_service_model("sqs", "service-2")
    second = botocore.loaders.create_loader().load_service_model("sqs", "service-2")
    model = moto.core.utils._load_service_model("dynamodb", "service-2")
    return first is second and model is moto.core.utils._load_service_model("dynamodb", "service-2")


def check_moto_extras_kept() -> bool:
    """moto's server reads SQS's model with moto's additions (the query-protocol error codes);
    the parse botocore's sessions share stays without them."""
    import moto.core.utils

    served = moto.core.utils._load_service_model("sqs", "service-2")
    shared = speed.shared_loader().load_service_model("sqs", "service-2")
    code = served["shapes"]["QueueDoesNotExist"].get("error", {}).get("code")
    return (
        code == "AWS.SimpleQueueService.NonExistentQueue"
        and "error" not in (shared["shapes"]["QueueDoesNotExist"])
    )


def check_batch_utils_alone() -> bool:
    importlib.import_module(
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service."
        "state_task_service_batch"
    )
    return "moto.batch.utils" in sys.modules and "moto.batch.models" not in sys.modules


def check_clients_reused(holders: list[str]) -> dict[str, Any]:
    clients = set()
    unpatched = []
    for name in holders:
        module = importlib.import_module(name)
        if module.boto_client_for is not vars(
            importlib.import_module(speed.BOTO_CLIENT_MODULE)
        ).get(speed.BOTO_CLIENT_FOR):
            unpatched.append(name)
        clients.add(id(module.boto_client_for("us-east-1", "sqs")))
    return {"unpatched": unpatched, "distinct_clients": len(clients)}


def check_definition_parsed_once() -> bool:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    worker = SimpleNamespace(
        _evaluation_details=SimpleNamespace(
            state_machine_details=SimpleNamespace(definition=DEFINITION)
        )
    )
    with Counted(AmazonStateLanguageParser, "parse") as parse:
        first = ExecutionWorker._get_evaluation_entrypoint(worker)  # type: ignore[arg-type]
        second = ExecutionWorker._get_evaluation_entrypoint(worker)  # type: ignore[arg-type]
    return parse.calls == 1 and first is second


def check_regions_without_models() -> bool:
    import botocore.loaders
    from moto.core.base_backend import BackendDict
    from moto.sqs.models import SQSBackend

    with Counted(botocore.loaders.Loader, "load_service_model") as load:
        backend = BackendDict(SQSBackend, "sqs")["123456789012"]
    return load.calls == 0 and "us-east-1" in backend.regions


class CountedIteration(list[Any]):
    iterations = 0

    def __iter__(self) -> Iterator[Any]:
        self.iterations += 1
        return super().__iter__()


def check_routing_from_memory() -> bool:
    from moto import backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    app = DomainDispatcherApplication(create_backend_app)
    patterns = CountedIteration(app.backend_url_patterns)
    app.backend_url_patterns = patterns
    first = app.get_backend_for_host("sqs.eu-west-1.amazonaws.com")
    second = app.get_backend_for_host("sqs.eu-west-1.amazonaws.com")
    listed = backends.list_of_moto_modules()
    return (
        first == second == "sqs"
        and patterns.iterations == 1
        and listed is backends.list_of_moto_modules()
    )


def check_action_methods_cached() -> bool:
    import moto.core.responses
    from moto.sqs.responses import SQSResponse

    with Counted(inspect, "getmembers") as getmembers:
        first = moto.core.responses.method_names_from_class(SQSResponse)
        second = moto.core.responses.method_names_from_class(SQSResponse)
    return (
        getmembers.calls == 1
        and type(first) is list
        and first == second
        and first is not second
        and "send_message" in first
    )


def check_json_paths_parsed_once() -> bool:
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    return (
        json_path.parse("$.a.b") is json_path.parse("$.a.b")
        and result_path.parse("$.c") is result_path.parse("$.c")
        and json_path.extract_json("$.a.b", {"a": {"b": 7}}) == 7
        and json_path.extract_json("$.a.b", {"a": {"b": 8}}) == 8
    )


def check_interpreter_invokes_in_process() -> bool:
    """Without the patch the interpreter's invoke goes to a server (none runs here: a
    connection error); with it, moto's Lambda backend answers that the function is unknown."""
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    try:
        lambda_eval_utils._invoke_lambda_function({"FunctionName": "missing"}, "us-east-1", None)
    except ClientError as error:
        return bool(error.response["Error"]["Code"] == "ResourceNotFoundException")
    except Exception:
        return False
    return False


def main() -> None:
    report: dict[str, Any] = {"moto": patching.moto_version()}
    if sys.argv[1] == "exists":
        report["exists"] = {target: resolve(target) for target in sys.argv[2:]}
        json.dump(report, sys.stdout)
        return
    holders = modules_importing_boto_client_for()
    report["boto_client_for_importers"] = holders

    patches.install(lambda name, payload: Invoked(b"{}"))
    applied = patching.applied_patches()
    report["applied"] = sorted({patch.target for patch in applied})
    report["not_in_effect"] = [patch.target for patch in applied if not patch.in_effect]
    report["speed"] = {
        "botocore_data_once": check_botocore_data_once(),
        "moto_extras_kept": check_moto_extras_kept(),
        "batch_utils_alone": check_batch_utils_alone(),
        "clients_reused": check_clients_reused(holders),
        "definition_parsed_once": check_definition_parsed_once(),
        "regions_without_models": check_regions_without_models(),
        "routing_from_memory": check_routing_from_memory(),
        "action_methods_cached": check_action_methods_cached(),
        "json_paths_parsed_once": check_json_paths_parsed_once(),
        "interpreter_invokes_in_process": check_interpreter_invokes_in_process(),
        **service_speed_checks(),
    }
    # Every module of the interpreter imported now holds a thread list that keeps nothing.
    threads = {
        name: vars(module)["TMP_THREADS"]
        for name, module in sorted(sys.modules.items())
        if name.startswith("moto.stepfunctions.") and "TMP_THREADS" in vars(module)
    }
    report["tmp_threads_holders"] = list(threads)
    report["tmp_threads_kept_by"] = [name for name, kept in threads.items() if type(kept) is list]
    # Every module of the interpreter imported now holds the patched factory.
    report["boto_client_for_left"] = [
        name
        for name, module in sorted(sys.modules.items())
        if name.startswith("moto.")
        and callable(vars(module).get(speed.BOTO_CLIENT_FOR))
        and vars(module)[speed.BOTO_CLIENT_FOR]
        is not vars(importlib.import_module(speed.BOTO_CLIENT_MODULE))[speed.BOTO_CLIENT_FOR]
    ]
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
