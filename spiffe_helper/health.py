"""Health: a state snapshot under a lock, and the ``/live`` and ``/ready`` HTTP endpoints.

Compatible with the Go helper: same paths and JSON shape (``{"status":"OK","health":{"file_write_statuses":
{"x509_write_status":"written","jwt_write_status":{"certs/jwt.token":"written"}}}}``), 200 or 503,
``Content-Type: application/json``, any method, exact path match. Truthful where Go is not:

- ready only when every configured output is written and no written SVID has expired;
- not live when writes keep failing (``failure_threshold`` failures in a row; 1 = Go) or when an SVID on
  disk has expired while the agent is unreachable (a restart is the only way out);
- a 503 body lists the reasons under ``health.problems``;
- a port already in use is a startup error (:class:`HealthServerError`), not a warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from typing import Protocol
from urllib.parse import urlsplit

from spiffe_helper.errors import SpiffeHelperError

log = logging.getLogger("spiffe_helper.health")

UNWRITTEN = "unwritten"
WRITTEN = "written"


class HealthServerError(SpiffeHelperError):
    """The health server cannot listen (port in use, bad address)."""


@dataclass(frozen=True)
class OutputState:
    """One configured output as health sees it."""

    status: str = UNWRITTEN
    failures: int = 0  # consecutive failed writes
    expires_at: float | None = None  # POSIX time the SVID written there expires; None for bundles


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class HealthSnapshot:
    """One consistent view of the helper's health."""

    x509_write_status: str | None
    jwt_write_status: Mapping[str, str]
    live: bool
    ready: bool
    agent_reachable: bool
    problems: tuple[str, ...] = field(default=())

    def body(self, ok: bool) -> bytes:
        """The Go helper's JSON for a 200 (``ok``) or 503 response, compact, HTML-escaped as Go does."""
        statuses: dict[str, object] = {}
        if self.x509_write_status is not None:
            statuses["x509_write_status"] = self.x509_write_status
        statuses["jwt_write_status"] = dict(sorted(self.jwt_write_status.items()))
        health: dict[str, object] = {"file_write_statuses": statuses}
        if not ok and self.problems:
            health["problems"] = list(self.problems)
        doc = {"status": "OK" if ok else "Service Unavailable", "health": health}
        text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


def assess(
    x509: OutputState | None,
    jwt: Mapping[str, OutputState],
    *,
    agent_reachable: bool,
    now: float,
    failure_threshold: int = 1,
) -> HealthSnapshot:
    """The verdicts for these outputs (a pure function: every rule of the module docstring lives here)."""
    outputs: list[tuple[str, OutputState]] = [("x509", x509)] if x509 is not None else []
    outputs.extend((f"jwt {p}", o) for p, o in sorted(jwt.items()))
    threshold = max(1, failure_threshold)
    problems: list[str] = []
    live = ready = True
    for name, out in outputs:
        if out.failures >= threshold:
            live = False
            problems.append(f"{name}: {out.failures} failed write(s) in a row")
        if out.status != WRITTEN:
            ready = False
            if out.failures < threshold:
                problems.append(f"{name}: {out.status}")
        if out.status == WRITTEN and out.expires_at is not None and out.expires_at <= now:
            ready = False
            problems.append(f"{name}: SVID on disk expired at {_iso(out.expires_at)}")
            if not agent_reachable:
                live = False
    if not agent_reachable:
        problems.append("Workload API unreachable")
    return HealthSnapshot(
        x509_write_status=str(x509.status) if x509 is not None else None,
        jwt_write_status={p: str(o.status) for p, o in jwt.items()},
        live=live,
        ready=ready,
        agent_reachable=agent_reachable,
        problems=tuple(problems),
    )


class HealthReport(Protocol):
    """What the HTTP server needs from a snapshot (:class:`HealthSnapshot` is one)."""

    @property
    def live(self) -> bool:
        """Liveness verdict."""
        ...

    @property
    def ready(self) -> bool:
        """Readiness verdict."""
        ...

    def body(self, ok: bool) -> bytes:
        """The JSON body for a 200 (``ok``) or 503 response."""
        ...


class HealthSource(Protocol):
    """Anything with a thread-safe ``snapshot()`` (:class:`StatusHealth` is one)."""

    def snapshot(self) -> HealthReport:
        """The current verdicts."""
        ...


class CredentialSnapshotLike(Protocol):
    """The orchestrator's status snapshot (``spiffe_helper.runs.status.StatusSnapshot`` fits)."""

    @property
    def x509(self) -> str | None: ...
    @property
    def jwt(self) -> Mapping[str, str]: ...
    @property
    def x509_not_after(self) -> datetime | None: ...
    @property
    def agent_error(self) -> str: ...
    @property
    def x509_failures(self) -> int: ...
    @property
    def jwt_failures(self) -> Mapping[str, int]: ...
    @property
    def jwt_not_after(self) -> Mapping[str, datetime]: ...


class CredentialStatusLike(Protocol):
    """Anything whose ``snapshot()`` gives a :class:`CredentialSnapshotLike`."""

    def snapshot(self) -> CredentialSnapshotLike: ...


class StatusHealth:
    """A :class:`HealthSource` over the orchestrator's credential status object (no second state to feed).

    That status keeps Go's write states, consecutive write failures, the SVIDs' expiry on disk and the last
    agent error; ``failure_threshold`` failed writes in a row end liveness (1, the default, is Go's rule).
    """

    def __init__(
        self, status: CredentialStatusLike, *, failure_threshold: int = 1, clock: Callable[[], float] = time.time
    ) -> None:
        self._status = status
        self._threshold = failure_threshold
        self._clock = clock

    def snapshot(self) -> HealthSnapshot:
        """Assess the status object's current snapshot."""
        s = self._status.snapshot()
        x509 = None
        if s.x509 is not None:
            expires = s.x509_not_after.timestamp() if s.x509_not_after is not None else None
            x509 = OutputState(str(s.x509), s.x509_failures, expires)
        jwt = {}
        for path, state in s.jwt.items():
            not_after = s.jwt_not_after.get(path)
            expires = not_after.timestamp() if not_after is not None else None
            jwt[path] = OutputState(str(state), s.jwt_failures.get(path, 0), expires)
        reachable = not s.agent_error
        return assess(x509, jwt, agent_reachable=reachable, now=self._clock(), failure_threshold=self._threshold)


_REASONS = {200: "OK", 404: "Not Found", 400: "Bad Request", 503: "Service Unavailable"}
_HEADER_TIMEOUT = 5.0  # Go: ReadHeaderTimeout 5s
_MAX_HEADER_BYTES = 64 * 1024


class HealthServer:
    """A tiny HTTP/1.1 server for the liveness and readiness paths (one response per connection)."""

    def __init__(
        self,
        state: HealthSource,
        *,
        bind_address: str = "",
        bind_port: int = 8081,
        liveness_path: str = "/live",
        readiness_path: str = "/ready",
    ) -> None:
        self.state = state
        self.bind_address = bind_address
        self.bind_port = bind_port
        self.liveness_path = liveness_path
        self.readiness_path = readiness_path
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The port actually bound (with ``bind_port=0``, the IPv4 one: each family gets its own)."""
        if self._server is None or not self._server.sockets:
            return self.bind_port
        socks = sorted(self._server.sockets, key=lambda s: s.family != socket.AF_INET)
        return int(socks[0].getsockname()[1])

    async def start(self) -> None:
        """Listen (all interfaces when ``bind_address`` is empty, as Go); :class:`HealthServerError` if not."""
        log.info("Starting health server")
        host = self.bind_address or None
        try:
            # A deep backlog: probes and load balancers may open many connections at once.
            self._server = await asyncio.start_server(self._handle, host=host, port=self.bind_port, backlog=511)
        except OSError as err:
            addr = f"{self.bind_address}:{self.bind_port}"
            # asyncio rewrites strerror into a long sentence; the errno keeps the plain reason.
            reason = (os.strerror(err.errno) if err.errno else str(err)).lower()
            raise HealthServerError(f"Error serving health checks: listen tcp {addr}: bind: {reason}") from None

    async def close(self) -> None:
        """Stop listening and wait for open connections to finish."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def serve(self) -> None:
        """Start, then serve until cancelled (for a TaskGroup); closes on the way out."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _HEADER_TIMEOUT)
            status, ctype, body, method = self._respond(head)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
            writer.close()
            return
        headers = [
            f"HTTP/1.1 {status} {_REASONS[status]}",
            f"Content-Type: {ctype}",
            f"Content-Length: {len(body)}",
            f"Date: {formatdate(usegmt=True)}",
            "Connection: close",
        ]
        if status == 404:
            headers.append("X-Content-Type-Options: nosniff")
        payload = ("\r\n".join(headers) + "\r\n\r\n").encode() + (b"" if method == "HEAD" else body)
        with contextlib.suppress(ConnectionError):
            writer.write(payload)
            await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

    def _respond(self, head: bytes) -> tuple[int, str, bytes, str]:
        if len(head) > _MAX_HEADER_BYTES:
            return 400, "text/plain; charset=utf-8", b"400 Bad Request", ""
        parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return 400, "text/plain; charset=utf-8", b"400 Bad Request", ""
        method, target = parts[0], parts[1]
        path = urlsplit(target).path
        if path == self.liveness_path:
            snap = self.state.snapshot()
            ok = snap.live
        elif path == self.readiness_path:
            snap = self.state.snapshot()
            ok = snap.ready
        else:
            return 404, "text/plain; charset=utf-8", b"404 page not found\n", method
        return (200 if ok else 503), "application/json", snap.body(ok), method
