"""Health over the daemon's CredentialStatus: Go's statuses and JSON, plus readiness/liveness that tell the
truth (expiry, agent, failures in a row)."""

from __future__ import annotations

import datetime as dt
import json
import threading

from spiffe_helper.config.model import go_path_join
from spiffe_helper.health import StatusHealth
from spiffe_helper.runs.status import CredentialStatus
from spiffe_helper.store.writer import WriteResult


class Clock:
    """A settable clock (seconds since the epoch)."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _written(expires_at: float | None = None) -> WriteResult:
    """What the writer returns after writing the X.509 files (``expires_at``: the leaf's notAfter)."""
    not_after = dt.datetime.fromtimestamp(expires_at, dt.UTC) if expires_at is not None else None
    return WriteResult(True, ("svid.pem",), "spiffe://td/x", not_after)


def _expiry(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


def test_go_shape_and_initial_state() -> None:
    status = CredentialStatus(True, ["certs/jwt_bundle.json", "certs/jwt.token"])
    snap = StatusHealth(status).snapshot()
    assert snap.live and not snap.ready
    assert json.loads(snap.body(True)) == {
        "status": "OK",
        "health": {
            "file_write_statuses": {
                "x509_write_status": "unwritten",
                "jwt_write_status": {"certs/jwt.token": "unwritten", "certs/jwt_bundle.json": "unwritten"},
            }
        },
    }


def test_exact_go_body_when_written() -> None:
    status = CredentialStatus(True, ["certs/jwt.token"])
    status.x509_written(_written())
    status.jwt_written("certs/jwt.token")
    snap = StatusHealth(status).snapshot()
    assert snap.live and snap.ready
    assert snap.body(True) == (
        b'{"status":"OK","health":{"file_write_statuses":{"x509_write_status":"written",'
        b'"jwt_write_status":{"certs/jwt.token":"written"}}}}'
    )


def test_x509_disabled_omits_the_key_and_empty_jwt_map_stays() -> None:
    health = StatusHealth(CredentialStatus(False, []))
    assert health.snapshot().body(True) == b'{"status":"OK","health":{"file_write_statuses":{"jwt_write_status":{}}}}'


def test_failed_write_breaks_liveness_until_the_next_success() -> None:
    status = CredentialStatus(True, [])
    health = StatusHealth(status)
    status.x509_written(_written())
    status.x509_failed("disk full")
    snap = health.snapshot()
    assert not snap.live and not snap.ready
    body = json.loads(snap.body(False))
    assert body["status"] == "Service Unavailable"
    assert body["health"]["file_write_statuses"]["x509_write_status"] == "failed"
    assert body["health"]["problems"] == ["x509: 1 failed write(s) in a row"]
    status.x509_written(_written())
    assert health.snapshot().live and health.snapshot().ready


def test_failure_threshold_tolerates_a_blip() -> None:
    status = CredentialStatus(True, ["certs/jwt.token"])
    health = StatusHealth(status, failure_threshold=3)
    status.x509_written(_written())
    status.jwt_written("certs/jwt.token")
    status.x509_failed("disk full")
    status.x509_failed("disk full")
    assert health.snapshot().live
    status.x509_failed("disk full")
    assert not health.snapshot().live
    for _ in range(3):
        status.jwt_failed("certs/jwt.token", "disk full")
    status.x509_written(_written())
    snap = health.snapshot()
    assert not snap.live and "jwt certs/jwt.token: 3 failed write(s) in a row" in snap.problems
    status.jwt_written("certs/jwt.token")
    assert health.snapshot().live


def test_expired_svid_is_not_ready_and_not_live_once_the_agent_is_gone() -> None:
    clock = Clock()
    status = CredentialStatus(True, ["certs/jwt.token"])
    health = StatusHealth(status, clock=clock)
    status.x509_written(_written(clock.now + 60))
    status.jwt_written("certs/jwt.token", _expiry(clock.now + 600))
    assert health.snapshot().ready
    status.agent_failed("connection refused")
    snap = health.snapshot()
    assert snap.ready and snap.live  # agent away, SVID still valid: keep serving
    clock.now += 61
    snap = health.snapshot()
    assert not snap.ready and not snap.live
    assert "x509: SVID on disk expired at 1970-01-12T13:47:40Z" in snap.problems
    assert "Workload API unreachable" in snap.problems
    status.agent_reachable()
    snap = health.snapshot()
    assert snap.live and not snap.ready  # agent back, new SVID not written yet
    status.x509_written(_written(clock.now + 3600))
    assert health.snapshot().ready


def test_expired_jwt_svid_is_judged_too() -> None:
    clock = Clock()
    status = CredentialStatus(False, ["certs/jwt_bundle.json", "certs/jwt.token"])
    health = StatusHealth(status, clock=clock)
    status.jwt_written("certs/jwt_bundle.json")  # a bundle has no expiry
    status.jwt_written("certs/jwt.token", _expiry(clock.now + 60))
    status.agent_failed("connection refused")
    assert health.snapshot().ready
    clock.now += 61
    snap = health.snapshot()
    assert not snap.ready and not snap.live
    assert "jwt certs/jwt.token: SVID on disk expired at 1970-01-12T13:47:40Z" in snap.problems
    status.jwt_written("certs/jwt.token", _expiry(clock.now + 60))
    status.agent_reachable()
    assert health.snapshot().ready


def test_unknown_jwt_path_is_ignored_and_reconfigure_keeps_state() -> None:
    clock = Clock()
    status = CredentialStatus(True, ["a"])
    status.x509_written(_written())
    status.jwt_written("a", _expiry(clock.now + 10))
    status.jwt_written("not-configured")
    status.jwt_failed("not-configured", "disk full")
    assert StatusHealth(status).snapshot().jwt_write_status == {"a": "written"}
    health = StatusHealth(status.reconfigured(False, ["a", "b"]), clock=clock)
    snap = health.snapshot()
    assert snap.x509_write_status is None
    assert snap.jwt_write_status == {"a": "written", "b": "unwritten"}
    clock.now += 11
    assert "jwt a: SVID on disk expired at 1970-01-12T13:46:50Z" in health.snapshot().problems  # expiry kept
    renamed = StatusHealth(status.reconfigured(True, ["a"])).snapshot()
    assert renamed.x509_write_status == "unwritten"  # X.509 file names may have changed: written again


def test_html_characters_are_escaped_like_go() -> None:
    health = StatusHealth(CredentialStatus(False, ["certs/<a&b>.token"]))
    assert b'"certs/\\u003ca\\u0026b\\u003e.token"' in health.snapshot().body(True)


def test_go_path_join() -> None:
    """The JWT keys of the health body are Go's ``path.Join(cert_dir, file)``."""
    assert go_path_join("certs", "jwt.token") == "certs/jwt.token"
    assert go_path_join("", "jwt.token") == "jwt.token"
    assert go_path_join("certs/", "./x/../jwt.token") == "certs/jwt.token"
    assert go_path_join("/certs", "/abs.token") == "/certs/abs.token"
    assert go_path_join("", "") == ""


def test_concurrent_updates_and_reads() -> None:
    paths = [f"certs/{i}.token" for i in range(8)]
    status = CredentialStatus(True, paths)
    health = StatusHealth(status)
    errors: list[BaseException] = []

    def writer(path: str) -> None:
        for n in range(2000):
            if n % 2:
                status.jwt_written(path)
            else:
                status.jwt_failed(path, "disk full")

    def reader() -> None:
        try:
            for _ in range(2000):
                json.loads(health.snapshot().body(True))
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(p,)) for p in paths] + [threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert set(health.snapshot().jwt_write_status.values()) == {"written"}


def test_status_health_reads_the_orchestrators_status_object() -> None:
    clock = Clock(1_700_000_000.0)
    status = CredentialStatus(True, ["certs/jwt.token"])
    health = StatusHealth(status, clock=clock)
    assert not health.snapshot().ready and health.snapshot().live
    expiry = dt.datetime.fromtimestamp(clock.now + 60, dt.UTC)
    status.x509_written(WriteResult(True, ("svid.pem",), "spiffe://td/x", expiry))
    status.jwt_written("certs/jwt.token")
    snap = health.snapshot()
    assert snap.ready and snap.live
    assert json.loads(snap.body(True))["health"]["file_write_statuses"] == {
        "x509_write_status": "written",
        "jwt_write_status": {"certs/jwt.token": "written"},
    }
    status.agent_failed("connection refused")
    clock.now += 61
    snap = health.snapshot()
    assert not snap.ready and not snap.live  # expired on disk and no agent to renew it
    status.agent_reachable()
    assert health.snapshot().live and not health.snapshot().ready
    status.jwt_failed("certs/jwt.token", "disk full")
    assert not health.snapshot().live
