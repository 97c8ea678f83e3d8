"""Config hot reload, end to end: the real ``spiffe-helper`` with a ConfigMap-style config directory.

A Kubernetes ConfigMap update never rewrites ``helper.conf``: it swaps the ``..data`` symlink to a new
timestamped directory. Every test here changes the config exactly that way, with a supervised child
(the signal-echo helper) that must never be restarted by a reload.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from spiffe_helper.devagent.harness import DevAgentProcess
from tests.helpers.procs import PYTHON, SIGECHO, eventually, lines

Setup = tuple["ConfigMapDir", Path, Path, Path, DevAgentProcess]
HELPER = str(Path(PYTHON).with_name("spiffe-helper"))
ID = "spiffe://reload.example/workload"


class ConfigMapDir:
    """A directory laid out like a mounted ConfigMap: ``helper.conf -> ..data/helper.conf``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.generation = 0
        root.mkdir()
        (root / "helper.conf").symlink_to("..data/helper.conf")

    @property
    def path(self) -> Path:
        return self.root / "helper.conf"

    def publish(self, text: str) -> None:
        """Write ``text`` into a fresh directory and swap ``..data`` to it atomically, as the kubelet does."""
        self.generation += 1
        gen = self.root / f"..2026_11_22_10_00_{self.generation:02d}"
        gen.mkdir()
        (gen / "helper.conf").write_text(text)
        tmp = self.root / "..data_tmp"
        tmp.symlink_to(gen.name)
        os.rename(tmp, self.root / "..data")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _conf(sock: Path, certs: Path, child_log: Path, audience: str, extra: str = "") -> str:
    return (
        f'agent_address = "{sock}"\n'
        f'cert_dir = "{certs}"\n'
        'svid_file_name = "svid.pem"\nsvid_key_file_name = "svid_key.pem"\nsvid_bundle_file_name = "bundle.pem"\n'
        f'jwt_svids = [{{jwt_audience = "{audience}", jwt_svid_file_name = "token.jwt"}}]\n'
        f'cmd = "{PYTHON}"\ncmd_args = "{SIGECHO} {child_log}"\nrenew_signal = "SIGHUP"\n' + extra
    )


def _audience(token_file: Path) -> list[str]:
    try:
        payload = token_file.read_text().split(".")[1]
    except (FileNotFoundError, IndexError):
        return []
    aud = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["aud"]
    return [aud] if isinstance(aud, str) else list(aud)


def _status(port: int, path: str) -> int:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return 0


@pytest.fixture
def setup(tmp_path: Path, sock_dir: Path) -> Iterator[Setup]:
    """(config dir, agent socket, cert dir, child's signal log, agent) with the dev agent running."""
    with DevAgentProcess(sock_dir, {"web": ID}, x509_ttl="1h", jwt_ttl="10m") as agent:
        certs = tmp_path / "certs"
        yield ConfigMapDir(tmp_path / "config"), sock_dir / "web.sock", certs, tmp_path / "child.log", agent


def _run(cfg: ConfigMapDir) -> subprocess.Popen[str]:
    with open(cfg.root.parent / "helper.log", "w") as log:  # a file, so a test can watch it while it runs
        return subprocess.Popen([HELPER, "-config", str(cfg.path)], stdin=subprocess.DEVNULL, stderr=log, text=True)


def _log(cfg: ConfigMapDir) -> str:
    return (cfg.root.parent / "helper.log").read_text()


def _stop(proc: subprocess.Popen[str], cfg: ConfigMapDir) -> str:
    proc.terminate()
    proc.wait(timeout=20)
    err = _log(cfg)
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
    return err


def test_changed_jwt_audience_writes_a_new_token_without_restarting_the_child(
    setup: Setup,
) -> None:
    cfg, sock, certs, child_log, _ = setup
    cfg.publish(_conf(sock, certs, child_log, "audience-one"))
    proc = _run(cfg)
    try:
        eventually(lambda: _audience(certs / "token.jwt") == ["audience-one"], 30)
        ready = eventually(lambda: [ln for ln in lines(child_log) if ln.startswith("ready")], 30)
        cfg.publish(_conf(sock, certs, child_log, "audience-two"))
        eventually(lambda: _audience(certs / "token.jwt") == ["audience-two"], 30)
        # Same child, started once; the X.509 files did not change, so no renew signal either.
        assert [ln for ln in lines(child_log) if ln.startswith("ready")] == ready
        assert not [ln for ln in lines(child_log) if ln.startswith("SIGHUP")]
    finally:
        err = _stop(proc, cfg)
    assert "Config file changed" in err
    assert "Configuration reloaded" in err


def test_invalid_new_config_is_logged_and_the_running_one_goes_on(
    setup: Setup,
) -> None:
    cfg, sock, certs, child_log, agent = setup
    cfg.publish(_conf(sock, certs, child_log, "audience-one"))
    proc = _run(cfg)
    try:
        eventually(lambda: _audience(certs / "token.jwt") == ["audience-one"], 30)
        eventually(lambda: lines(child_log), 30)
        cfg.publish(_conf(sock, certs, child_log, "audience-one") + "cert_file_mode = -1\n")
        eventually(lambda: "keeping the running one" in _log(cfg), 30)
        # The running config keeps working: it still answers a new rotation with files and a renew signal.
        before = (certs / "svid.pem").read_bytes()
        agent.rotate_now()
        eventually(lambda: (certs / "svid.pem").read_bytes() != before, 30)
        eventually(lambda: [ln for ln in lines(child_log) if ln.startswith("SIGHUP")], 30)
    finally:
        err = _stop(proc, cfg)
    assert "invalid configuration; keeping the running one" in err
    assert "cert file mode must be positive" in err


def test_process_keys_are_kept_and_health_moves_to_the_new_port(
    setup: Setup,
) -> None:
    cfg, sock, certs, child_log, _ = setup
    port1, port2 = _free_port(), _free_port()
    health = 'health_checks {{ listener_enabled = true  bind_address = "127.0.0.1"  bind_port = {} }}\n'
    cfg.publish(_conf(sock, certs, child_log, "aud", health.format(port1)))
    proc = _run(cfg)
    try:
        eventually(lambda: _status(port1, "/ready") == 200, 30)
        changed = _conf(sock, certs, child_log, "aud", health.format(port2)).replace("SIGHUP", "SIGUSR1")
        cfg.publish(changed)
        eventually(lambda: _status(port2, "/ready") == 200, 30)
        assert _status(port1, "/ready") == 0  # the old listener is closed
        ready = [ln for ln in lines(child_log) if ln.startswith("ready")]
        assert len(ready) == 1
    finally:
        err = _stop(proc, cfg)
    assert "Changed process settings take effect only when the helper restarts" in err
    assert "keys=renew_signal" in err
