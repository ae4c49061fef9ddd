"""moto's server with the embedded stack's patches, in a process of its own.

moto's backends and the patches' Lambda invoker are process-wide, so a test that wants its own
patched moto must not share the test process with the session's embedded stack. Run as
``python -m tests.integration.embedded.patched_moto_server RECORD_FILE``: prints its URL, serves
until its stdin closes (the parent exited or closed it), and appends to RECORD_FILE the name
of every function moto itself tried to run (the poller must be the only trigger).
"""

from __future__ import annotations

import sys
from pathlib import Path

from moto.server import ThreadedMotoServer

from serverless_testbed.embedded.moto import patches as moto_patches
from serverless_testbed.emulation.invoke import Invoked


def main() -> None:
    record = Path(sys.argv[1])

    def refuse(function_name: str, payload: bytes) -> Invoked:
        with record.open("a") as lines:
            lines.write(f"{function_name}\n")
        return Invoked(b'{"errorMessage": "not invoked through the poller"}', "Unhandled")

    moto_patches.install(refuse)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"http://{host}:{port}", flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
