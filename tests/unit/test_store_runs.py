"""Pure parts of the runs: JWT refresh timing and backoff, log-once, health status, stop requests."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import pytest

from spiffe_helper.runs.control import Shutdown, Stopped
from spiffe_helper.runs.jwt_refresh import ErrorBackoff, next_refresh_delay
from spiffe_helper.runs.logonce import ErrorOnce
from spiffe_helper.runs.status import CredentialStatus, WriteState
from spiffe_helper.store.writer import WriteResult

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_refresh_at_half_remaining_lifetime_plus_one_second() -> None:
    assert next_refresh_delay(NOW + dt.timedelta(minutes=5), NOW) == 151.0  # SPIRE's default 5 min TTL
    assert next_refresh_delay(NOW + dt.timedelta(seconds=10), NOW) == 6.0
    # Go panics when this is not positive (token expired beyond 2 s, still inside the leeway): floor at 1 s.
    assert next_refresh_delay(NOW - dt.timedelta(seconds=30), NOW) == 1.0


def test_error_backoff_doubles_to_60s_and_resets() -> None:
    b = ErrorBackoff()
    assert [b.next_delay() for _ in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    b.reset()
    assert b.next_delay() == 1


def test_error_once_per_cause_until_success(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.errors_once")
    caplog.set_level(logging.DEBUG, logger="test.errors_once")
    once = ErrorOnce(logger, "Unable to dump bundle")
    for cause in ("disk full", "disk full", "read-only", "disk full"):
        once(cause)
    once.reset()
    once("disk full")
    levels = [(r.levelno, r.fields["error"]) for r in caplog.records]  # type: ignore[attr-defined]
    assert levels == [
        (logging.ERROR, "disk full"),
        (logging.DEBUG, "disk full"),
        (logging.ERROR, "read-only"),
        (logging.DEBUG, "disk full"),
        (logging.ERROR, "disk full"),
    ]
    inline = ErrorOnce(logger, "Error while watching x509 context", inline=True)
    inline(RuntimeError("boom"))
    assert caplog.records[-1].getMessage() == "Error while watching x509 context: boom"


def test_status_follows_go_liveness_and_readiness() -> None:
    st = CredentialStatus(x509_enabled=True, jwt_paths=["certs/jwt.token"])
    snap = st.snapshot()
    assert (snap.live, snap.ready) == (True, False)
    assert snap.go_health() == {
        "file_write_statuses": {"x509_write_status": "unwritten", "jwt_write_status": {"certs/jwt.token": "unwritten"}}
    }
    st.x509_written(WriteResult(True, ("a",), "spiffe://td/x", NOW))
    st.jwt_written("certs/jwt.token")
    snap = st.snapshot()
    assert (snap.live, snap.ready, snap.x509_not_after) == (True, True, NOW)
    st.x509_failed("disk full")
    snap = st.snapshot()
    assert (snap.live, snap.ready, snap.x509, snap.last_error) == (False, False, WriteState.FAILED, "disk full")
    st.agent_failed("rpc error: code = Unavailable")
    assert st.snapshot().agent_error.startswith("rpc error")
    st.agent_reachable()
    st.x509_written(WriteResult(False, ("a",)))
    assert st.snapshot().live and st.snapshot().agent_error == ""
    assert CredentialStatus(False, []).snapshot().go_health() == {"file_write_statuses": {"jwt_write_status": {}}}


def test_shutdown_first_request_wins() -> None:
    async def scenario() -> tuple[int, str]:
        sd = Shutdown()
        sd.request(0, "SIGTERM")
        sd.request(3, "child exited")
        with pytest.raises(Stopped):
            await sd.raise_when_requested()
        return await sd.wait(), sd.reason

    assert asyncio.run(scenario()) == (0, "SIGTERM")
