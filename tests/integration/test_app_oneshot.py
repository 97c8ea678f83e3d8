"""One-shot waits for the agent and an identity up to oneshot_timeout, then succeeds or exits 1 clearly."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from spiffe_helper.devagent import DevAgentThread
from tests.integration.test_app_harness import Helper, check_pair, eventually


def _cfg(sock: Path, certs: Path, timeout: float) -> dict[str, object]:
    return {
        "agent_address": str(sock),
        "cert_dir": str(certs),
        "svid_file_name": "svid.pem",
        "svid_key_file_name": "key.pem",
        "svid_bundle_file_name": "bundle.pem",
        "jwt_svids": [{"jwt_audience": "db", "jwt_svid_file_name": "db.jwt"}],
        "daemon_mode": False,
        "oneshot_timeout": timeout,
    }


def test_agent_started_3s_later_then_success(sock_dir: Path, tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    helper = Helper(_cfg(sock_dir / "app.sock", certs, 60.0), tmp_path).start()
    eventually(lambda: "Waiting for the Workload API" in helper.output(), timeout=30)
    time.sleep(3)
    assert helper.proc is not None and helper.proc.poll() is None  # still waiting
    with DevAgentThread(sock_dir, {"app": ["spiffe://example.org/app"]}):
        assert helper.wait(60) == 0, helper.output()
    check_pair((certs / "svid.pem").read_bytes(), (certs / "key.pem").read_bytes())
    assert (certs / "db.jwt").read_text().count(".") == 2
    log = helper.output()
    assert "Waiting for the Workload API" in log and "level=warning" in log
    assert "Successfully fetched x509 certificates" in log and "Successfully fetched JWT SVIDs" in log


def test_agent_never_started_exits_1_at_the_timeout(sock_dir: Path, tmp_path: Path) -> None:
    helper = Helper(_cfg(sock_dir / "app.sock", tmp_path / "certs", 3.0), tmp_path)
    started = time.monotonic()
    helper.start()
    assert helper.wait(60) == 1
    elapsed = time.monotonic() - started
    assert elapsed >= 3.0  # it waited the configured time (no upper bound: the machine is shared)
    log = helper.output()
    assert (
        'msg="Error fetching x509 certificates" error="no X.509-SVID within oneshot_timeout (3s); last error: ' in log
    )
    assert 'msg="Error starting spiffe-helper"' in log
    assert "Exiting" not in log
    assert "Traceback" not in log
    assert not (tmp_path / "certs" / "svid.pem").exists()


def test_no_identity_issued_waits_then_succeeds_when_registered(sock_dir: Path, tmp_path: Path) -> None:
    with DevAgentThread(sock_dir, {"app": []}) as agent:  # PERMISSION_DENIED: no identity yet
        helper = Helper(_cfg(agent.socket_path("app"), tmp_path / "certs", 60.0), tmp_path).start()
        eventually(lambda: "no identity issued" in helper.output().lower() or "PermissionDenied" in helper.output())
        agent.set_identities("app", ["spiffe://example.org/late"])
        assert helper.wait(60) == 0, helper.output()
    assert (tmp_path / "certs" / "svid.pem").exists()


def test_sigterm_interrupts_the_wait_with_exit_1(sock_dir: Path, tmp_path: Path) -> None:
    helper = Helper(_cfg(sock_dir / "app.sock", tmp_path / "certs", 60.0), tmp_path).start()
    eventually(lambda: "Waiting for the Workload API" in helper.output(), timeout=30)
    assert helper.stop(signal.SIGTERM) == 1
    assert 'msg="Error starting spiffe-helper" error="context canceled"' in helper.output()
