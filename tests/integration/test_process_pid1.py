"""The helper as PID 1 of a new PID namespace (``unshare -Urpf --mount-proc``), driven through the real
Reaper/SignalRouter/AppSupervisor in ``tests/helpers/supervise.py``. Also as a subreaper outside one."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import psutil
import pytest

from tests.helpers.procs import ORPHANS, PYTHON, SIGECHO, SUPERVISE, eventually, lines, unshare_problem

_PROBLEM = unshare_problem()
needs_pidns = pytest.mark.skipif(_PROBLEM is not None, reason=_PROBLEM or "")
UNSHARE = ["unshare", "-Urpf", "--mount-proc"]


def supervise(*argv: str, pidns: bool, opts: tuple[str, ...] = ()) -> list[str]:
    """The command line running ``argv`` under supervise.py, inside a new PID namespace if ``pidns``."""
    return [*(UNSHARE if pidns else []), PYTHON, SUPERVISE, *opts, "--", *argv]


def inner_pid1(unshare: subprocess.Popen[str]) -> psutil.Process:
    """The host-side process of PID 1 inside the namespace (unshare's forked child)."""
    kids: list[psutil.Process] = eventually(lambda: psutil.Process(unshare.pid).children())
    return kids[0]


@needs_pidns
def test_helper_is_pid1_and_sigterm_reaches_the_child(tmp_path: Path) -> None:
    log, ready = tmp_path / "sig.log", tmp_path / "ready"
    cmd = supervise(PYTHON, SIGECHO, str(log), "--term", "default", pidns=True, opts=("--ready", str(ready)))
    with subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True) as proc:
        eventually(lambda: lines(log))
        assert ready.read_text() == "1"  # supervise.py really is PID 1 in there
        pid1 = inner_pid1(proc)
        pid1.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert lines(log)[1:] == ["SIGTERM"]
    assert proc.returncode == 143, err  # the child died of SIGTERM: 128 + 15


@needs_pidns
def test_every_forwarded_signal_reaches_the_child_group_as_pid1(tmp_path: Path) -> None:
    log = tmp_path / "sig.log"
    cmd = supervise(PYTHON, SIGECHO, str(log), "--exit-code", "7", pidns=True)
    sent = ["SIGHUP", "SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGQUIT", "SIGALRM", "SIGCONT", "SIGINT"]
    with subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True) as proc:
        eventually(lambda: lines(log))
        pid1 = inner_pid1(proc)
        for name in sent:
            pid1.send_signal(getattr(signal, name))
            eventually(lambda n=name: n in lines(log))  # type: ignore[misc]
        pid1.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert lines(log)[1:] == [*sent, "SIGTERM"]
    assert proc.returncode == 7, err  # the child's own code after it handled SIGTERM


@needs_pidns
def test_100_orphans_are_reaped_by_pid1() -> None:
    proc = subprocess.run(supervise(PYTHON, ORPHANS, "100", pidns=True), capture_output=True, text=True, timeout=60)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report == {"orphans": 100, "new_parents": [1], "zombies": 0, "left": 0}, proc.stderr
    assert proc.returncode == 0
    assert "orphans_reaped=100" in proc.stderr


@needs_pidns
def test_zombie_check_detects_a_pid1_that_does_not_reap() -> None:
    # Control for the test above: a PID 1 that only waits for its own child leaves the orphans as zombies.
    nonreaper = f"import subprocess,sys; sys.exit(subprocess.run([sys.executable, {ORPHANS!r}, '3', '0.5']).returncode)"
    proc = subprocess.run([*UNSHARE, PYTHON, "-c", nonreaper], capture_output=True, text=True, timeout=60)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["zombies"] == 3
    assert proc.returncode == 1


def test_100_orphans_are_reaped_as_subreaper() -> None:
    proc = subprocess.run(supervise(PYTHON, ORPHANS, "100", pidns=False), capture_output=True, text=True, timeout=60)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["zombies"] == 0 and report["left"] == 0 and report["orphans"] == 100, proc.stderr
    assert len(report["new_parents"]) == 1 and report["new_parents"][0] != 1  # supervise.py adopted them
    assert proc.returncode == 0


CODES = [
    (["sh", "-c", "exit 0"], 0),
    (["sh", "-c", "exit 3"], 3),
    (["no-such-command-spiffe"], 127),
    (["/etc/passwd-not-executable"], 126),
    (["sh", "-c", "kill -TERM $$"], 143),
]


@pytest.mark.parametrize("pidns", [pytest.param(True, marks=needs_pidns), False], ids=["pid1", "subreaper"])
def test_exit_codes_propagate(tmp_path: Path, pidns: bool) -> None:
    data = tmp_path / "data.txt"
    data.write_text("not a program")
    for argv, code in CODES:
        argv = [str(data) if a == "/etc/passwd-not-executable" else a for a in argv]
        proc = subprocess.run(supervise(*argv, pidns=pidns), capture_output=True, text=True, timeout=30)
        assert proc.returncode == code, (argv, proc.stderr)
