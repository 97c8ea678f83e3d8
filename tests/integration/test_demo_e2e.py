"""`spiffe-helper demo` end to end: the real dev agent, two real spiffe-helper daemons, the real apps.

Short TTLs make the dev agent rotate every few seconds, so a bounded run of 16 seconds sees several
rotations of both identities.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from spiffe_helper.demo_timeline import IDS


def demo_argv(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("spiffe-helper")
    base = [str(script)] if script.exists() else [sys.executable, "-c", "from spiffe_helper.cli import main; main()"]
    return [*base, "demo", *args]


def test_bounded_demo_passes_across_rotations_and_refuses_the_intruder() -> None:
    proc = subprocess.run(
        demo_argv("--duration", "16", "--ttl", "6", "--interval", "0.3"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert out.count("[ok]") == 4 and "[FAIL]" not in out, out
    assert f"REFUSED {IDS['intruder']}" in out
    assert "FETCH FAILED" not in out.replace("intruder-client", "")
    server_rot, client_rot = map(int, re.search(r"rotations seen in use: server (\d+), client (\d+)", out).groups())
    assert server_rot >= 3 and client_rot >= 3
    assert re.search(r"server\s+reloaded TLS context on SIGHUP", out)
    assert re.search(r"client\s+reloaded TLS context on SIGHUP", out)
    assert "Traceback" not in out


def test_bounded_demo_fails_when_too_short_for_three_rotations() -> None:
    proc = subprocess.run(
        demo_argv("--duration", "3", "--ttl", "60", "--interval", "0.3"), capture_output=True, text=True, timeout=120
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert re.search(r"\[FAIL\] server identity rotated 0 times", out), out


def test_ctrl_c_stops_everything_cleanly() -> None:
    proc = subprocess.Popen(
        demo_argv("--ttl", "30", "--interval", "0.3"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "fetch ok" in line:
                ready.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        assert ready.wait(60), "".join(lines)
        time.sleep(0.5)
        family = psutil.Process(proc.pid).children(recursive=True)
        assert len(family) >= 3  # the agent and the two helpers at least
        workdir = re.search(r"Workdir (\S+)\.", "".join(lines))
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=10)
    out = "".join(lines)
    assert code == 0, out
    assert "summary:" in out and "Traceback" not in out
    alive = [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"left running: {alive}"
    assert workdir is not None and not Path(workdir.group(1)).exists()
