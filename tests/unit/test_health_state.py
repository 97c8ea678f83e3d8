"""HealthState: Go's statuses and JSON, plus readiness/liveness that tell the truth (expiry, agent)."""

from __future__ import annotations

import json
import threading

from spiffe_helper.health import HealthState, go_path_join


class Clock:
    """A settable clock (seconds since the epoch)."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_go_shape_and_initial_state() -> None:
    state = HealthState(x509=True, jwt_paths=["certs/jwt_bundle.json", "certs/jwt.token"])
    snap = state.snapshot()
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
    state = HealthState(x509=True, jwt_paths=["certs/jwt.token"])
    state.x509_written()
    state.jwt_written("certs/jwt.token")
    snap = state.snapshot()
    assert snap.live and snap.ready
    assert snap.body(True) == (
        b'{"status":"OK","health":{"file_write_statuses":{"x509_write_status":"written",'
        b'"jwt_write_status":{"certs/jwt.token":"written"}}}}'
    )


def test_x509_disabled_omits_the_key_and_empty_jwt_map_stays() -> None:
    state = HealthState(x509=False, jwt_paths=[])
    assert state.snapshot().body(True) == b'{"status":"OK","health":{"file_write_statuses":{"jwt_write_status":{}}}}'


def test_failed_write_breaks_liveness_until_the_next_success() -> None:
    state = HealthState(x509=True)
    state.x509_written()
    state.x509_failed()
    snap = state.snapshot()
    assert not snap.live and not snap.ready
    body = json.loads(snap.body(False))
    assert body["status"] == "Service Unavailable"
    assert body["health"]["file_write_statuses"]["x509_write_status"] == "failed"
    assert body["health"]["problems"] == ["x509: 1 failed write(s) in a row"]
    state.x509_written()
    assert state.snapshot().live and state.snapshot().ready


def test_failure_threshold_tolerates_a_blip() -> None:
    state = HealthState(x509=True, failure_threshold=3)
    state.x509_written()
    state.x509_failed()
    state.x509_failed()
    assert state.snapshot().live
    state.x509_failed()
    assert not state.snapshot().live


def test_expired_svid_is_not_ready_and_not_live_once_the_agent_is_gone() -> None:
    clock = Clock()
    state = HealthState(x509=True, jwt_paths=["certs/jwt.token"], clock=clock)
    state.x509_written(expires_at=clock.now + 60)
    state.jwt_written("certs/jwt.token", expires_at=clock.now + 600)
    assert state.snapshot().ready
    state.set_agent_reachable(False)
    snap = state.snapshot()
    assert snap.ready and snap.live  # agent away, SVID still valid: keep serving
    clock.now += 61
    snap = state.snapshot()
    assert not snap.ready and not snap.live
    assert "x509: SVID on disk expired at 1970-01-12T13:47:40Z" in snap.problems
    assert "Workload API unreachable" in snap.problems
    state.set_agent_reachable(True)
    snap = state.snapshot()
    assert snap.live and not snap.ready  # agent back, new SVID not written yet
    state.x509_written(expires_at=clock.now + 3600)
    assert state.snapshot().ready


def test_unknown_jwt_path_is_ignored_and_reconfigure_keeps_state() -> None:
    state = HealthState(x509=True, jwt_paths=["a"])
    state.jwt_written("a")
    state.jwt_written("not-configured")
    state.configure(x509=False, jwt_paths=["a", "b"])
    snap = state.snapshot()
    assert snap.x509_write_status is None
    assert snap.jwt_write_status == {"a": "written", "b": "unwritten"}


def test_html_characters_are_escaped_like_go() -> None:
    state = HealthState(x509=False, jwt_paths=["certs/<a&b>.token"])
    assert b'"certs/\\u003ca\\u0026b\\u003e.token"' in state.snapshot().body(True)


def test_go_path_join() -> None:
    assert go_path_join("certs", "jwt.token") == "certs/jwt.token"
    assert go_path_join("", "jwt.token") == "jwt.token"
    assert go_path_join("certs/", "./x/../jwt.token") == "certs/jwt.token"
    assert go_path_join("/certs", "/abs.token") == "/certs/abs.token"
    assert go_path_join("", "") == ""


def test_concurrent_updates_and_reads() -> None:
    paths = [f"certs/{i}.token" for i in range(8)]
    state = HealthState(x509=True, jwt_paths=paths)
    errors: list[BaseException] = []

    def writer(path: str) -> None:
        for n in range(2000):
            (state.jwt_written if n % 2 else state.jwt_failed)(path)

    def reader() -> None:
        try:
            for _ in range(2000):
                json.loads(state.snapshot().body(True))
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(p,)) for p in paths] + [threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert set(state.snapshot().jwt_write_status.values()) == {"written"}


def test_status_health_reads_the_orchestrators_status_object() -> None:
    import datetime as dt

    from spiffe_helper.health import StatusHealth
    from spiffe_helper.runs.status import CredentialStatus
    from spiffe_helper.store.writer import WriteResult

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
