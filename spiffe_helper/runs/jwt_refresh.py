"""Daemon-mode JWT-SVID refresh: one loop per ``jwt_svids`` entry, as the Go helper times it.

- First fetch as soon as the JWT bundles are known (tokens are validated against them, like Go).
- After a success the next fetch is at half the remaining lifetime plus one second, so it lands past the
  SPIRE agent's half-life cache threshold. Go computes this from the first SVID even when ``hint`` picked
  another one, and panics when it is not positive; here it is the written SVID's expiry, at least 1 s.
- After an error: 1 s, 2 s, 4 s ... 60 s, reset by a success.

Waiting for bundles happens inside this loop only, so X.509 watching never waits for JWT (Go blocks the whole
daemon on its JWTSource until the first JWT bundle arrives, silently).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import NoReturn

from spiffe_helper.config.model import JwtSvidConfig
from spiffe_helper.errors import SvidError, WriteError
from spiffe_helper.jwt import JwtBundleSet
from spiffe_helper.logs import get_logger
from spiffe_helper.runs.logonce import ErrorOnce
from spiffe_helper.runs.status import CredentialStatus
from spiffe_helper.store.writer import CredentialWriter
from spiffe_helper.workload.client import WorkloadApiClient, WorkloadApiError

log = get_logger()

MIN_REFRESH = 1.0
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 60.0


def next_refresh_delay(expiry: dt.datetime, now: dt.datetime) -> float:
    """Seconds until the next fetch: remaining lifetime / 2 + 1 s (never below 1 s)."""
    remaining = (expiry - now).total_seconds()
    return max(remaining / 2 + 1.0, MIN_REFRESH)


class ErrorBackoff:
    """1 s doubling to 60 s; :meth:`reset` after a success."""

    def __init__(self, first: float = BACKOFF_FIRST, cap: float = BACKOFF_MAX) -> None:
        self._first = first
        self._cap = cap
        self._next = first

    def next_delay(self) -> float:
        """The delay to wait now; the following one doubles."""
        delay = self._next
        self._next = min(self._next * 2, self._cap)
        return delay

    def reset(self) -> None:
        """Start again from the first delay."""
        self._next = self._first


class JwtBundleCache:
    """The latest JWT bundle set from the bundle watch, and a way to wait for the first one."""

    def __init__(self) -> None:
        self._bundles: JwtBundleSet | None = None
        self._ready = asyncio.Event()

    def update(self, bundles: JwtBundleSet) -> None:
        """Store a new bundle set (full state)."""
        self._bundles = bundles
        self._ready.set()

    async def get(self) -> JwtBundleSet:
        """The latest bundle set, waiting for the first one."""
        await self._ready.wait()
        assert self._bundles is not None
        return self._bundles


class JwtRefresher:
    """Keeps one JWT-SVID file fresh."""

    def __init__(
        self,
        entry: JwtSvidConfig,
        hint: str,
        client: WorkloadApiClient,
        writer: CredentialWriter,
        bundles: JwtBundleCache,
        status: CredentialStatus,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.entry = entry
        self.hint = hint
        self.client = client
        self.writer = writer
        self.bundles = bundles
        self.status = status
        self.path = writer.jwt_svid_paths[entry.jwt_svid_file_name]
        self._now = now
        self._backoff = ErrorBackoff()
        self._fetch_failed = ErrorOnce(log, "Unable to fetch JWT SVID", inline=True)
        self._invalid = ErrorOnce(log, "Unable to parse or validate token", inline=True)
        self._write_failed = ErrorOnce(log, "Unable to update JWT SVID", inline=True)

    async def run(self) -> NoReturn:
        """Refresh forever (until cancelled)."""
        while True:
            await asyncio.sleep(await self.refresh_once())

    async def refresh_once(self) -> float:
        """Fetch, validate and write once; returns the delay until the next attempt."""
        bundles = await self.bundles.get()
        log.debug("Updating JWT SVID", extra={"fields": {"audience": self.entry.jwt_audience}})
        try:
            svid = await self.client.fetch_jwt_svid(
                self.entry.jwt_audience, self.entry.jwt_extra_audiences, self.hint, bundles=bundles
            )
        except WorkloadApiError as exc:
            self._fetch_failed(exc)
            return self._backoff.next_delay()
        except SvidError as exc:
            self._invalid(exc)
            return self._backoff.next_delay()
        try:
            await asyncio.to_thread(self.writer.write_jwt_svid, self.entry.jwt_svid_file_name, svid)
        except WriteError as exc:
            self._write_failed(exc)
            self.status.jwt_failed(self.path, str(exc))
            return self._backoff.next_delay()
        for once in (self._fetch_failed, self._invalid, self._write_failed):
            once.reset()
        self._backoff.reset()
        self.status.jwt_written(self.path, svid.expiry)
        log.info("JWT SVID updated")
        return next_refresh_delay(svid.expiry, self._now())
