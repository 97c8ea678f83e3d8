"""The real ``spiffe-helper`` CLI with the process runtime and the health server wired into the daemon.

A stand-in for the wiring app.py does not have yet (its ``_daemon`` hook is replaced before the CLI runs),
and the reference for that wiring: what ``run()`` below does is what app.py should do. End-to-end tests
run this script like the real binary: ``python wired_helper.py -config helper.conf``. Once app.py wires
the runtime itself, the tests should run ``spiffe-helper`` instead and this file can go.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

from spiffe_helper import app, cli
from spiffe_helper.config.model import Config
from spiffe_helper.health import HealthServer, StatusHealth
from spiffe_helper.process.runtime import ProcessRuntime
from spiffe_helper.runs.control import Shutdown
from spiffe_helper.runs.daemon import Daemon
from spiffe_helper.runs.status import CredentialStatus
from spiffe_helper.store.writer import CredentialWriter, WriteResult


class WiredDaemon:
    """``Daemon`` plus ProcessRuntime (reaper, signals, supervisor) and HealthServer."""

    def __init__(self, config: Config, client: Any, writer: CredentialWriter, shutdown: Shutdown) -> None:
        self.config = config
        self.client = client
        self.writer = writer
        self.shutdown = shutdown

    async def run(self) -> int:
        """Run the daemon; the exit code is the app's in wrapper mode, else the daemon's."""
        cfg, shutdown = self.config, self.shutdown
        runtime = ProcessRuntime.from_config(cfg)
        # Replaces app.py's SIGTERM/SIGINT handlers: stop requests go through the runtime, which also
        # forwards every other signal to the child's process group.
        runtime.start(on_stop=lambda sig: shutdown.request(0, signal.Signals(sig).name))
        status = CredentialStatus(cfg.x509_enabled, self.writer.jwt_paths)
        health: HealthServer | None = None
        background = []
        if runtime.owns_exit_code:

            async def watch_exit() -> None:
                shutdown.request(await runtime.wait_exit(), "child exited")

            background.append(watch_exit)
        try:
            hc = cfg.health_checks
            if hc.listener_enabled:
                health = HealthServer(
                    StatusHealth(status),
                    bind_address=hc.bind_address,
                    bind_port=hc.bind_port,
                    liveness_path=hc.liveness_path,
                    readiness_path=hc.readiness_path,
                )
                await health.start()  # a port in use ends the run here, with exit 1

            def on_x509_written(result: WriteResult) -> None:
                runtime.on_x509_written(result.changed)

            daemon = Daemon(
                cfg, self.client, self.writer, status, shutdown, on_x509_written=on_x509_written, background=background
            )
            code = await daemon.run()
        finally:
            child_code = await runtime.stop()
            runtime.close()
            if health is not None:
                await health.close()
        return child_code if child_code is not None else code


def main() -> int:
    """Patch the daemon factory, then run the real CLI."""
    app._daemon = lambda config, client, writer, shutdown: WiredDaemon(config, client, writer, shutdown)  # type: ignore[assignment,return-value]
    app._warn_unwired = lambda config: None
    return cli.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
