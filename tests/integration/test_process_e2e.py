"""End to end: dev agent -> spiffe-helper (CLI, daemon, writer) -> supervised child / health endpoints.

The helper runs as a real process: the installed ``spiffe-helper`` console script.
"""

from __future__ import annotations

import http.client
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from spiffe_helper.devagent.harness import DevAgentProcess
from tests.helpers.procs import PYTHON, SIGECHO, eventually, lines, stop_process

HELPER = [str(Path(PYTHON).with_name("spiffe-helper"))]
FILES = ("svid.pem", "svid_key.pem", "svid_bundle.pem")


def _conf(path: Path, sock: Path, certs: Path, extra: str) -> Path:
    path.write_text(
        f'agent_address = "{sock}"\n'
        f'cert_dir = "{certs}"\n'
        f'svid_file_name = "{FILES[0]}"\n'
        f'svid_key_file_name = "{FILES[1]}"\n'
        f'svid_bundle_file_name = "{FILES[2]}"\n' + extra
    )
    return path


def _more_than(log: Path, n: int) -> list[str]:
    """The log's lines once there are more than ``n`` of them, else []."""
    got = lines(log)
    return got if len(got) > n else []


def _check_args(certs: Path) -> list[str]:
    return ["--check", *(str(certs / f) for f in FILES)]


@pytest.fixture
def certs(tmp_path: Path) -> Path:
    d = tmp_path / "certs"
    d.mkdir()
    return d


@pytest.fixture
def helper_procs() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for p in procs:
        stop_process(p)  # SIGTERM first: the helper then stops its own child (nginx, sigecho)


def _start_helper(conf: Path, procs: list[subprocess.Popen[str]]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [*HELPER, "-config", str(conf)], stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    procs.append(proc)
    return proc


def test_renew_signal_only_after_complete_files_and_only_on_change(
    tmp_path: Path, sock_dir: Path, certs: Path, helper_procs: list[subprocess.Popen[str]]
) -> None:
    log = tmp_path / "sig.log"
    args = " ".join([SIGECHO, str(log), *_check_args(certs)])
    conf = _conf(
        tmp_path / "helper.conf",
        sock_dir / "app.sock",
        certs,
        f'cmd = "{PYTHON}"\ncmd_args = "{args}"\nrenew_signal = "SIGHUP"\n',
    )
    helper = _start_helper(conf, helper_procs)
    time.sleep(1.0)
    assert not log.exists()  # no agent yet, no files: the child must not run
    with DevAgentProcess(sock_dir, {"app": "spiffe://example.org/app"}) as agent:
        first = eventually(lambda: lines(log), timeout=30)
        assert first[0].split()[2] == "ok", first  # started only once the files were complete
        serials = [first[0].split()[3]]
        for n in range(1, 6):
            agent.rotate_now()
            got = eventually(partial(_more_than, log, n), timeout=30)
            line = got[n].split()
            assert line[:2] == ["SIGHUP", "ok"], got  # the new cert, key and bundle were all in place
            serials.append(line[2])
        helper.send_signal(signal.SIGTERM)
        _, err = helper.communicate(timeout=30)
    assert helper.returncode == 0, err
    final = lines(log)
    assert len(set(serials)) == 6  # a new certificate at every signal
    assert [x.split()[0] for x in final] == ["ready"] + ["SIGHUP"] * 5 + ["SIGTERM"]
    assert "Process started" in err and "Process exited" in err


def test_wrapper_mode_reload_signal_and_exit_code(
    tmp_path: Path, sock_dir: Path, certs: Path, helper_procs: list[subprocess.Popen[str]]
) -> None:
    log = tmp_path / "sig.log"
    args = ", ".join(f'"{a}"' for a in [SIGECHO, str(log), "--term", "default", *_check_args(certs)])
    extra = f'start {{\n  cmd = "{PYTHON}"\n  args = [{args}]\n}}\nreload {{\n  signal = "SIGUSR1"\n}}\n'
    conf = _conf(tmp_path / "helper.conf", sock_dir / "app.sock", certs, extra)
    with DevAgentProcess(sock_dir, {"app": "spiffe://example.org/app"}) as agent:
        helper = _start_helper(conf, helper_procs)
        assert eventually(lambda: lines(log), timeout=30)[0].split()[2] == "ok"
        for n in (1, 2):
            agent.rotate_now()
            got = eventually(partial(_more_than, log, n), timeout=30)
            assert got[n].split()[:2] == ["SIGUSR1", "ok"], got
        helper.send_signal(signal.SIGTERM)
        _, err = helper.communicate(timeout=30)
    assert [x.split()[0] for x in lines(log)] == ["ready", "SIGUSR1", "SIGUSR1", "SIGTERM"]
    assert helper.returncode == 143, err  # the app died of the forwarded SIGTERM: the helper says so


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return 0
    finally:
        conn.close()


def test_health_flips_when_the_agent_goes_away_and_the_svid_expires(
    tmp_path: Path, sock_dir: Path, certs: Path, helper_procs: list[subprocess.Popen[str]]
) -> None:
    port = _free_port()
    extra = f'health_checks {{\n  listener_enabled = true\n  bind_address = "127.0.0.1"\n  bind_port = {port}\n}}\n'
    conf = _conf(tmp_path / "helper.conf", sock_dir / "app.sock", certs, extra)
    agent = DevAgentProcess(sock_dir, {"app": "spiffe://example.org/app"}, x509_ttl="3s", state_dir=tmp_path / "ca")
    try:
        agent.start()
        helper = _start_helper(conf, helper_procs)
        eventually(lambda: _status(port, "/ready") == 200, timeout=30)
        assert _status(port, "/live") == 200
        agent.kill()  # the agent crashes: no renewal any more
        eventually(lambda: _status(port, "/ready") == 503, timeout=30)  # the SVID on disk expired
        eventually(lambda: _status(port, "/live") == 503, timeout=30)  # ... and nobody can renew it
        agent.start()
        eventually(lambda: _status(port, "/ready") == 200, timeout=60)
        assert _status(port, "/live") == 200
        helper.send_signal(signal.SIGTERM)
        _, err = helper.communicate(timeout=30)
        assert helper.returncode == 0, err
        assert "Starting health server" in err
    finally:
        agent.close()


def test_health_port_in_use_is_a_startup_error(
    tmp_path: Path, sock_dir: Path, certs: Path, helper_procs: list[subprocess.Popen[str]]
) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        extra = f'health_checks {{\n  listener_enabled = true\n  bind_address = "127.0.0.1"\n  bind_port = {port}\n}}\n'
        conf = _conf(tmp_path / "helper.conf", sock_dir / "app.sock", certs, extra)
        helper = _start_helper(conf, helper_procs)
        _, err = helper.communicate(timeout=30)
    assert helper.returncode == 1
    assert f"listen tcp 127.0.0.1:{port}: bind: address already in use" in err
