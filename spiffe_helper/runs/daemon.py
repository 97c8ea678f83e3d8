"""Daemon mode: keep every configured file current for as long as the helper runs.

One TaskGroup holds the X.509 watch, the JWT bundle watch and one refresher per JWT-SVID, plus the stop
watcher that cancels them all when :class:`~spiffe_helper.runs.control.Shutdown` is requested. The tasks are
independent: X.509 never waits for JWT. A terminal Workload API error ends the run with an exception (the
orchestrator turns it into exit 1, as Go does).

Two seams for the orchestrator:

- ``on_x509_written(result)``: called after every successful X.509 write, changed or not (the supervisor
  decides: start the child on the first one, send the renew signal only when ``result.changed``);
- ``status``: the one object health reads (:class:`~spiffe_helper.runs.status.CredentialStatus`);
- ``background``: coroutine factories run in the same TaskGroup (health server, supervisor exit watcher);
  they are cancelled on stop, and one that raises ends the run with that error.

Writes run in a worker thread so fsyncs never stall the event loop (signals, health); each stream awaits
its write before reading the next message, so writes of one kind never overlap. X.509 files on a
memory-backed file system (tmpfs) are written on the loop itself: no disk to wait for (``store.medium``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from spiffe_helper import gcpolicy
from spiffe_helper.config.model import Config
from spiffe_helper.errors import SpiffeHelperError, SvidError, WriteError
from spiffe_helper.jwt import JwtBundleSet
from spiffe_helper.logs import get_logger
from spiffe_helper.runs.control import Shutdown, Stopped
from spiffe_helper.runs.jwt_refresh import JwtBundleCache, JwtRefresher
from spiffe_helper.runs.logonce import ErrorOnce
from spiffe_helper.runs.status import CredentialStatus
from spiffe_helper.store.atomic import DirectoryBusy
from spiffe_helper.store.writer import CredentialWriter, WriteResult
from spiffe_helper.svid import X509Context
from spiffe_helper.workload.client import WorkloadApiClient, WorkloadApiError

log = get_logger()

X509Hook = Callable[[WriteResult], None]


def no_supervisor(result: WriteResult) -> None:
    """The hook when no process is supervised: nothing to start or signal."""


class Daemon:
    """The daemon run of one configuration."""

    def __init__(
        self,
        config: Config,
        client: WorkloadApiClient,
        writer: CredentialWriter,
        status: CredentialStatus,
        shutdown: Shutdown,
        on_x509_written: X509Hook = no_supervisor,
        background: Sequence[Callable[[], Coroutine[Any, Any, object]]] = (),
    ) -> None:
        self.config = config
        self.client = client
        self.writer = writer
        self.status = status
        self.shutdown = shutdown
        self.on_x509_written = on_x509_written
        self.background = tuple(background)
        self.jwt_bundles = JwtBundleCache()
        self._x509_watch_failed = ErrorOnce(log, "Error while watching x509 context", inline=True)
        self._dump_failed = ErrorOnce(log, "Unable to dump bundle")
        self._jwt_watch_failed = ErrorOnce(log, "Error while watching JWT bundles", inline=True)
        self._jwt_bundle_failed = ErrorOnce(log, "Error writing JWT Bundle to disk", inline=True)

    async def run(self) -> int:
        """Run until a stop is requested (returns its exit code) or a fatal error (raises)."""
        cfg = self.config
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.shutdown.raise_when_requested(), name="stop")
                for start in self.background:  # e.g. the health server, the supervisor's exit watcher
                    tg.create_task(start())
                if cfg.x509_enabled:
                    log.info("Watching for X509 Context")
                    tg.create_task(self._watch_x509(), name="x509-watch")
                if cfg.jwt_bundle_enabled or cfg.jwt_svids_enabled:
                    # JWT-SVIDs are validated against the bundles, so the watch runs for them too.
                    if cfg.jwt_bundle_enabled:
                        log.info("Watching for JWT Bundles")
                    tg.create_task(self._watch_jwt_bundles(), name="jwt-bundle-watch")
                for entry in cfg.jwt_svids:
                    refresher = JwtRefresher(entry, cfg.hint, self.client, self.writer, self.jwt_bundles, self.status)
                    tg.create_task(refresher.run(), name=f"jwt-svid {entry.jwt_svid_file_name}")
        except* Stopped:
            pass
        return self.shutdown.code if self.shutdown.code is not None else 0

    # ----- X.509 -----

    async def _watch_x509(self) -> None:
        try:
            await self.client.watch_x509_context(self._on_x509, self._on_x509_error)
        except WorkloadApiError as exc:
            raise SpiffeHelperError(f"watching X.509 context: {exc}") from None

    async def _on_x509(self, ctx: X509Context) -> None:
        self.status.agent_reachable()
        self._x509_watch_failed.reset()
        for svid in ctx.svids:
            log.info("Received update", extra={"fields": {"spiffe_id": str(svid.spiffe_id)}})
        log.debug("Updating X.509 certificates")
        try:
            result = await self._write_x509(ctx)
        except (WriteError, SvidError) as exc:
            self._dump_failed(exc)
            self.status.x509_failed(str(exc))
            return
        # The first write loaded what start-up had not (cryptography's lazy parts, the supervisor's and
        # health's modules): freeze those too. gcpolicy freezes only that once; later calls do nothing.
        gcpolicy.settle()
        self._dump_failed.reset()
        self.status.x509_written(result)
        fields = {} if result.changed else {"changed": "false"}
        log.info("X.509 certificates updated", extra={"fields": fields})
        self.on_x509_written(result)

    async def _write_x509(self, ctx: X509Context) -> WriteResult:
        if self.writer.x509_in_memory:
            # tmpfs: nothing blocks on a disk, and two thread hand-overs would be most of the latency. Unless
            # another writer holds the directory (a second helper, our prune thread): then wait off the loop.
            try:
                return self.writer.write_x509(ctx, wait=False)
            except DirectoryBusy:
                pass
        return await asyncio.to_thread(self.writer.write_x509, ctx)

    def _on_x509_error(self, exc: Exception) -> None:
        if isinstance(exc, WorkloadApiError) and exc.agent_unreachable:
            self.status.agent_failed(str(exc))
        self._x509_watch_failed(exc)

    # ----- JWT bundles -----

    async def _watch_jwt_bundles(self) -> None:
        try:
            await self.client.watch_jwt_bundles(self._on_jwt_bundles, self._on_jwt_error)
        except WorkloadApiError as exc:
            raise SpiffeHelperError(f"watching JWT bundles: {exc}") from None

    async def _on_jwt_bundles(self, bundles: JwtBundleSet) -> None:
        self.status.agent_reachable()
        self._jwt_watch_failed.reset()
        self.jwt_bundles.update(bundles)
        if not self.config.jwt_bundle_enabled:
            return
        log.debug("Updating JWT bundle")
        path = self.writer.jwt_bundle_path
        try:
            await asyncio.to_thread(self.writer.write_jwt_bundles, bundles)
        except WriteError as exc:
            self._jwt_bundle_failed(exc)
            self.status.jwt_failed(path, str(exc))
            return
        self._jwt_bundle_failed.reset()
        self.status.jwt_written(path)
        log.info("JWT bundle updated")

    def _on_jwt_error(self, exc: Exception) -> None:
        if isinstance(exc, WorkloadApiError) and exc.agent_unreachable:
            self.status.agent_failed(str(exc))
        self._jwt_watch_failed(exc)
