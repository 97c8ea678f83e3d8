"""Credential state for health checks: the one object the runs update and the health server reads.

It keeps the Go helper's write statuses (``unwritten`` / ``written`` / ``failed`` for X.509 and per JWT
file path, liveness = nothing failed, readiness = everything written) plus what Go does not track: whether
the agent was reachable at last contact, how many writes in a row failed, and when the SVIDs on disk expire
(the verdicts built from these live in :func:`spiffe_helper.health.assess`). Updates come from the
event loop; reads may come from any thread, so a lock guards the state and readers get a frozen snapshot.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from spiffe_helper.store.writer import WriteResult


class WriteState(StrEnum):
    """Go's write statuses, with Go's spelling."""

    UNWRITTEN = "unwritten"
    WRITTEN = "written"
    FAILED = "failed"


@dataclass(frozen=True)
class StatusSnapshot:
    """A consistent copy of the state at one instant."""

    x509: WriteState | None  # None when no X.509 output is configured
    jwt: Mapping[str, WriteState] = field(default_factory=dict)  # path -> state
    x509_not_after: dt.datetime | None = None
    agent_error: str = ""  # the last Workload API error, "" after a good message
    last_error: str = ""  # the last write error, "" after a good write
    x509_failures: int = 0  # consecutive failed X.509 writes
    jwt_failures: Mapping[str, int] = field(default_factory=dict)  # path -> consecutive failed writes
    jwt_not_after: Mapping[str, dt.datetime] = field(default_factory=dict)  # path -> JWT-SVID expiry

    @property
    def live(self) -> bool:
        """Go's liveness: no write has failed (a later success recovers)."""
        return self.x509 is not WriteState.FAILED and WriteState.FAILED not in self.jwt.values()

    @property
    def ready(self) -> bool:
        """Go's readiness: every configured output has been written."""
        x509_ok = self.x509 in (None, WriteState.WRITTEN)
        return x509_ok and all(s is WriteState.WRITTEN for s in self.jwt.values())

    def go_health(self) -> dict[str, Any]:
        """The ``health`` object of the Go helper's JSON body."""
        statuses: dict[str, Any] = {}
        if self.x509 is not None:
            statuses["x509_write_status"] = str(self.x509)
        statuses["jwt_write_status"] = {p: str(s) for p, s in sorted(self.jwt.items())}
        return {"file_write_statuses": statuses}


class CredentialStatus:
    """Thread-safe holder of the write statuses; see :class:`StatusSnapshot`.

    Only the outputs given at construction are tracked: updates for any other JWT path are ignored.
    """

    def __init__(self, x509_enabled: bool, jwt_paths: Iterable[str]) -> None:
        self._lock = threading.Lock()
        self._x509 = WriteState.UNWRITTEN if x509_enabled else None
        self._x509_failures = 0
        self._jwt = {p: WriteState.UNWRITTEN for p in jwt_paths}
        self._jwt_failures = dict.fromkeys(self._jwt, 0)
        self._jwt_not_after: dict[str, dt.datetime] = {}
        self._not_after: dt.datetime | None = None
        self._agent_error = ""
        self._last_error = ""

    def reconfigured(self, x509_enabled: bool, jwt_paths: Iterable[str]) -> CredentialStatus:
        """A status for a reloaded config: JWT paths that remain keep their state (the files are still
        there); the X.509 output starts unwritten (its file names may have changed) and the agent state
        starts fresh (its address may have changed)."""
        new = CredentialStatus(x509_enabled, jwt_paths)
        with self._lock:
            for path in new._jwt.keys() & self._jwt.keys():
                new._jwt[path], new._jwt_failures[path] = self._jwt[path], self._jwt_failures[path]
                if path in self._jwt_not_after:
                    new._jwt_not_after[path] = self._jwt_not_after[path]
        return new

    def x509_written(self, result: WriteResult) -> None:
        """The X.509 files are in place (changed or not)."""
        with self._lock:
            if self._x509 is not None:
                self._x509, self._x509_failures = WriteState.WRITTEN, 0
            self._not_after = result.not_after
            self._last_error = ""

    def x509_failed(self, error: str) -> None:
        """Writing the X.509 files failed; the previous files are still there."""
        with self._lock:
            if self._x509 is not None:
                self._x509, self._x509_failures = WriteState.FAILED, self._x509_failures + 1
            self._last_error = error

    def jwt_written(self, path: str, not_after: dt.datetime | None = None) -> None:
        """A JWT file is in place; ``not_after`` is a JWT-SVID's expiry (None for the bundle)."""
        with self._lock:
            if path in self._jwt:
                self._jwt[path], self._jwt_failures[path] = WriteState.WRITTEN, 0
                if not_after is None:
                    self._jwt_not_after.pop(path, None)
                else:
                    self._jwt_not_after[path] = not_after
            self._last_error = ""

    def jwt_failed(self, path: str, error: str) -> None:
        """Writing a JWT file failed."""
        with self._lock:
            if path in self._jwt:
                self._jwt[path], self._jwt_failures[path] = WriteState.FAILED, self._jwt_failures[path] + 1
            self._last_error = error

    def agent_reachable(self) -> None:
        """A good message arrived from the Workload API."""
        with self._lock:
            self._agent_error = ""

    def agent_failed(self, error: str) -> None:
        """The Workload API could not be reached (or sent an error)."""
        with self._lock:
            self._agent_error = error

    def snapshot(self) -> StatusSnapshot:
        """A frozen copy for the health server."""
        with self._lock:
            return StatusSnapshot(
                x509=self._x509,
                jwt=MappingProxyType(dict(self._jwt)),
                x509_not_after=self._not_after,
                agent_error=self._agent_error,
                last_error=self._last_error,
                x509_failures=self._x509_failures,
                jwt_failures=MappingProxyType(dict(self._jwt_failures)),
                jwt_not_after=MappingProxyType(dict(self._jwt_not_after)),
            )
