"""One-shot mode (``daemon_mode = false``): fetch what is configured, write it, exit.

Same order and messages as the Go helper (X.509, then the JWT bundle, then every JWT-SVID, errors of the
JWT-SVIDs collected), but consistent waiting: every fetch waits for the agent (socket missing, agent down,
no identity issued yet) until ``oneshot_timeout`` from the start, so an init container can start before the
agent. Go fails at once for X.509 and blocks forever for JWT. ``jwt_extra_audiences`` are requested and
tokens validated against the JWT bundle, which Go skips in this mode.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from spiffe_helper.config.model import Config
from spiffe_helper.errors import SpiffeHelperError, SvidError, WriteError
from spiffe_helper.logs import get_logger
from spiffe_helper.runs.logonce import ErrorOnce
from spiffe_helper.store.writer import CredentialWriter
from spiffe_helper.workload.client import WorkloadApiClient, WorkloadApiError

if TYPE_CHECKING:
    # Types only: a run without JWT outputs never loads the JWT module.
    from spiffe_helper.jwt import JwtBundleSet

log = get_logger()

_FAILURES = (WorkloadApiError, SvidError, WriteError)
RENDER_RETRY = 1.0  # wait before asking again when the agent's answer lacks what the config selects


class OneShot:
    """One fetch-and-write pass bounded by ``oneshot_timeout``."""

    def __init__(self, config: Config, client: WorkloadApiClient, writer: CredentialWriter) -> None:
        self.config = config
        self.client = client
        self.writer = writer
        self._loop = asyncio.get_running_loop()
        self._deadline = self._loop.time() + config.oneshot_timeout
        self._last_error = ""
        self._waiting = ErrorOnce(log, "Waiting for the Workload API", level=logging.WARNING)

    def _remaining(self) -> float:
        return max(self._deadline - self._loop.time(), 0.0)

    def _on_wait_error(self, exc: Exception) -> None:
        self._last_error = str(exc)
        self._waiting(exc)

    def _explain(self, exc: Exception, what: str) -> Exception:
        """A timeout names the config key and the last reason, instead of the client's remaining seconds."""
        if isinstance(exc, WorkloadApiError) and exc.code_name == "DeadlineExceeded":
            last = f"; last error: {self._last_error}" if self._last_error else ""
            return SpiffeHelperError(f"no {what} within oneshot_timeout ({self.config.oneshot_timeout:g}s){last}")
        return exc

    async def run(self) -> int:
        """Fetch and write everything configured; raises the first fatal error (exit 1)."""
        cfg = self.config
        if cfg.x509_enabled:
            log.debug("Fetching x509 certificates")
            try:
                await self._x509()
            except _FAILURES as exc:
                err = self._explain(exc, "X.509-SVID")
                log.error("Error fetching x509 certificates", extra={"fields": {"error": str(err)}})
                raise err from None
            log.info("Successfully fetched x509 certificates")
        if cfg.jwt_bundle_enabled or cfg.jwt_svids_enabled:
            log.debug("Fetching JWT Bundle")
            try:
                bundles = await self._jwt_bundles()
            except _FAILURES as exc:
                err = self._explain(exc, "JWT bundle")
                log.error("Error fetching JWT bundle", extra={"fields": {"error": str(err)}})
                raise err from None
            if cfg.jwt_bundle_enabled:
                log.info("Successfully fetched JWT bundle")
            if cfg.jwt_svids_enabled:
                await self._jwt_svids(bundles)
        return 0

    async def _x509(self) -> None:
        while True:
            ctx = await self.client.fetch_x509_context(
                timeout=self._remaining(), retry=True, on_error=self._on_wait_error
            )
            try:
                # On the loop, not a worker thread: a one-shot run has nothing else to do meanwhile (a stop
                # signal is handled as soon as the write returns), and the default executor's thread would
                # cost a cold run ~2 ms to start and ~1 ms to join at exit.
                self.writer.write_x509(ctx)
                return
            except SvidError as exc:
                # E.g. the hinted SVID is not issued yet: ask again until the deadline.
                self._on_wait_error(exc)
                if self._remaining() <= RENDER_RETRY:
                    raise
                await asyncio.sleep(RENDER_RETRY)

    async def _jwt_bundles(self) -> JwtBundleSet:
        bundles = await self.client.fetch_jwt_bundles(
            timeout=self._remaining(), retry=True, on_error=self._on_wait_error
        )
        if self.config.jwt_bundle_enabled:
            self.writer.write_jwt_bundles(bundles)  # on the loop, as the X.509 files
        return bundles

    async def _jwt_svids(self, bundles: JwtBundleSet) -> None:
        log.debug("Fetching JWT SVIDs")
        errors: list[str] = []
        for entry in self.config.jwt_svids:
            try:
                svid = await self.client.fetch_jwt_svid(
                    entry.jwt_audience,
                    entry.jwt_extra_audiences,
                    self.config.hint,
                    bundles=bundles,
                    timeout=self._remaining(),
                    retry=True,
                    on_error=self._on_wait_error,
                )
                self.writer.write_jwt_svid(entry.jwt_svid_file_name, svid)
            except _FAILURES as exc:
                err = self._explain(exc, "JWT-SVID")
                errors.append(f'unable to fetch JWT SVID for audience "{entry.jwt_audience}": {err}')
        if errors:
            joined = "\n".join(errors)
            log.error("Error fetching JWT SVIDs", extra={"fields": {"error": joined}})
            raise SpiffeHelperError(joined)
        log.info("Successfully fetched JWT SVIDs")
