"""The daemon as a whole: credential pipeline, supervised process, health server and config hot reload.

Lifetimes differ, which is the point of this module:

- the :class:`~spiffe_helper.process.runtime.ProcessRuntime` (reaper, signal forwarding, the child) lives as
  long as the helper: a config reload never restarts the workload;
- the credential pipeline (Workload API client, writer, one :class:`~spiffe_helper.runs.daemon.Daemon`) is a
  *generation*: a reload that changes outputs, modes, JWT audiences or the agent address ends the current
  generation and starts the next with the new config; the first write of the new generation signals the
  child only if the files' content changed;
- the health server is restarted only when ``health_checks`` changed; it always reads the current
  generation's status, so probes keep answering across reloads.

Process keys (``cmd``, ``cmd_args``, ``renew_signal``, ``pid_file_name``, ``start``, ``reload``,
``shutdown_grace_period``) cannot change under a running child: a changed value is reported and the running
one is kept until the helper restarts. An invalid new config is logged and the running one goes on.
"""

from __future__ import annotations

import asyncio
import os
import signal

from spiffe_helper.config.model import Config
from spiffe_helper.config.source import ConfigSource
from spiffe_helper.errors import EXIT_OK, AddressError, ConfigError, WriteError
from spiffe_helper.health import HealthServer, StatusHealth
from spiffe_helper.logs import get_logger, setup_logging
from spiffe_helper.process.runtime import ProcessRuntime
from spiffe_helper.reload import ConfigChange, ConfigWatcher
from spiffe_helper.runs.control import Shutdown
from spiffe_helper.runs.daemon import Daemon
from spiffe_helper.runs.status import CredentialStatus, StatusSnapshot
from spiffe_helper.store.writer import CredentialWriter, WriteResult
from spiffe_helper.workload.address import resolve_address
from spiffe_helper.workload.client import WorkloadApiClient

log = get_logger()

# Keys that belong to the supervised process: applying them would mean restarting the workload.
PROCESS_KEYS = ("cmd", "cmd_args", "renew_signal", "pid_file_name", "start", "reload", "shutdown_grace_period")
# Keys that only steer logging or the health server: applied without touching the pipeline.
LIVE_KEYS = ("log_level", "log_format", "health_checks")


class _CurrentStatus:
    """What the health server reads: the status of whichever generation is running now."""

    def __init__(self, status: CredentialStatus) -> None:
        self.status = status

    def snapshot(self) -> StatusSnapshot:
        return self.status.snapshot()


class DaemonService:
    """Runs the daemon until a stop; returns the exit code (the child's own in wrapper mode)."""

    def __init__(
        self, config: Config, writer: CredentialWriter, shutdown: Shutdown, source: ConfigSource | None = None
    ) -> None:
        self.config = config
        self.writer = writer
        self.shutdown = shutdown
        self.source = source
        self.current = _CurrentStatus(CredentialStatus(config.x509_enabled, writer.jwt_paths))
        self.runtime = ProcessRuntime.from_config(config)
        self.health: HealthServer | None = None
        self._generation = Shutdown()
        self._pending: tuple[Config, CredentialWriter] | None = None

    async def run(self) -> int:
        """Start the process runtime and health, then run pipeline generations until a stop."""
        runtime = self.runtime
        # Replaces the orchestrator's SIGTERM/SIGINT handlers: stop signals end the run with exit 0 (as Go),
        # every other forwarded signal goes to the child's process group.
        runtime.start(on_stop=lambda sig: self.shutdown.request(EXIT_OK, signal.Signals(sig).name))
        helpers: list[asyncio.Task[None]] = []
        code = EXIT_OK
        try:
            await self._start_health(self.config)  # a port in use ends the run here, with exit 1
            helpers.append(asyncio.create_task(self._forward_stop(), name="stop-forward"))
            if runtime.owns_exit_code:
                helpers.append(asyncio.create_task(self._watch_child_exit(), name="child-exit"))
            if self.source is not None:
                helpers.append(asyncio.create_task(self._watch_config(self.source), name="config-watch"))
            code = await self._run_generations()
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            child_code = await runtime.stop()
            runtime.close()
            if self.health is not None:
                await self.health.close()
        return child_code if child_code is not None else code

    async def _run_generations(self) -> int:
        while True:
            address = resolve_address(self.config.agent_address, os.environ)
            async with WorkloadApiClient(address) as client:
                daemon = Daemon(
                    self.config,
                    client,
                    self.writer,
                    self.current.status,
                    self._generation,
                    on_x509_written=self._on_x509_written,
                )
                code = await daemon.run()
            if self.shutdown.requested or self._pending is None:
                return self.shutdown.code if self.shutdown.code is not None else code
            self.config, self.writer = self._pending
            self._pending = None
            try:
                self.writer.prepare()
            except WriteError as exc:
                log.error("Unable to prepare the output directory", extra={"fields": {"error": str(exc)}})
            self.current.status = self.current.status.reconfigured(self.config.x509_enabled, self.writer.jwt_paths)
            self._generation = Shutdown()
            log.info("Configuration reloaded")

    def _on_x509_written(self, result: WriteResult) -> None:
        self.runtime.on_x509_written(result.changed)

    async def _forward_stop(self) -> None:
        code = await self.shutdown.wait()
        self._generation.request(code, self.shutdown.reason)

    async def _watch_child_exit(self) -> None:
        self.shutdown.request(await self.runtime.wait_exit(), "child exited")

    async def _start_health(self, config: Config) -> None:
        hc = config.health_checks
        if not hc.listener_enabled:
            self.health = None
            return
        self.health = HealthServer(
            StatusHealth(self.current),
            bind_address=hc.bind_address,
            bind_port=hc.bind_port,
            liveness_path=hc.liveness_path,
            readiness_path=hc.readiness_path,
        )
        await self.health.start()

    # ----- hot reload -----

    async def _watch_config(self, source: ConfigSource) -> None:
        try:
            with open(source.path, "rb") as f:
                initial = f.read()
        except OSError:
            initial = None
        await ConfigWatcher(source.path, self._on_config_change, initial=initial).run()

    async def _on_config_change(self, change: ConfigChange) -> None:
        assert self.source is not None
        try:
            new = self.source.reload()
        except ConfigError as exc:
            log.error("invalid configuration; keeping the running one", extra={"fields": {"error": str(exc)}})
            return
        if not new.daemon_mode:
            log.warning("daemon_mode = false in the changed configuration is ignored until the helper restarts")
            new = new._replace(daemon_mode=True)
        kept = [key for key in PROCESS_KEYS if getattr(new, key) != getattr(self.config, key)]
        if kept:
            log.warning(
                "Changed process settings take effect only when the helper restarts",
                extra={"fields": {"keys": ",".join(kept)}},
            )
            new = new._replace(**{key: getattr(self.config, key) for key in kept})
        await self._apply(new)

    async def _apply(self, new: Config) -> None:
        old = self.config
        if (new.log_level, new.log_format) != (old.log_level, old.log_format):
            setup_logging(new.log_level, new.log_format)
        pipeline_changed = any(
            getattr(new, name) != getattr(old, name)
            for name in Config._fields
            if name not in LIVE_KEYS and name not in PROCESS_KEYS
        )
        if pipeline_changed:
            try:
                resolve_address(new.agent_address, os.environ)
                writer = CredentialWriter(new)
            except (AddressError, ConfigError) as exc:
                log.error("invalid configuration; keeping the running one", extra={"fields": {"error": str(exc)}})
                return
            # writer.prepare() (which clears crash leftovers) waits for the switch: the running generation
            # may be mid-write in the same directory until then.
            self._pending = (new, writer)
            self._generation.request(EXIT_OK, "configuration changed")  # the run loop starts the next one
        else:
            self.config = new
        if new.health_checks != old.health_checks:
            await self._restart_health(new)

    async def _restart_health(self, new: Config) -> None:
        if self.health is not None:
            await self.health.close()
            self.health = None
        try:
            await self._start_health(new)
        except Exception as exc:  # e.g. the new port is taken: report, keep running without health
            log.error("Unable to restart the health server", extra={"fields": {"error": str(exc)}})
            self.health = None
