"""The agent killed and restarted 50 times under a running helper.

One scenario (module fixture) drives the real dev agent process (SIGKILL, leaving a stale socket, and
SIGTERM alternately, with down times from 0 to 0.6 s) under the real helper with a child. Per return it
measures the time from the agent accepting connections again (as the harness sees it, polling every 20 ms)
to the helper having written the SVID the new agent issued (a restarted agent re-issues SVIDs; its CA
persists in a state directory). A thread stats the credential files every 2 ms throughout. The tests then
check the parts:

- the helper reconnected after every return (and how fast: the figures are printed);
- the files were never missing, the helper never crashed or printed a traceback;
- the child was started once and never restarted (needs the supervisor wired into the daemon: skipped,
  naming the blocker, while ``spiffe-helper`` still ignores ``cmd``).
"""

from __future__ import annotations

import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from spiffe_helper.devagent import DevAgentProcess
from tests.faults.harness import HelperProcess, eventually, wait_changed, write_conf

RESTARTS = 50
DOWN_TIMES = (0.0, 0.05, 0.2, 0.6)
RECONNECT_BOUND = 10.0  # generous "eventually": the target (<= 1 s) is reported, not asserted
SCENARIO_BUDGET = 200.0  # seconds for all restarts; normally about 40
pytestmark = pytest.mark.timeout(SCENARIO_BUDGET + 60)
SPIFFE_ID = "spiffe://faults.example/workload/restarts"
SIGECHO = str(Path(__file__).resolve().parents[1] / "helpers" / "sigecho.py")


@dataclass
class RestartRun:
    """What the scenario observed."""

    reconnects: list[float] = field(default_factory=list)
    by_kind: dict[str, list[float]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    stat_checks: int = 0
    helper_alive: bool = False
    helper_log: str = ""
    child_log: list[str] = field(default_factory=list)
    child_pids_alive: list[int] = field(default_factory=list)


class FilesPresent(threading.Thread):
    """Stats every file every 2 ms and records any moment one is missing."""

    def __init__(self, files: list[Path], run: RestartRun) -> None:
        super().__init__(daemon=True)
        self.files, self.run_record, self.done = files, run, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.002):
            for p in self.files:
                try:
                    p.stat()
                except FileNotFoundError:
                    self.run_record.missing.append(f"{time.monotonic():.3f} {p.name}")
            self.run_record.stat_checks += 1


def generation(files: list[Path]) -> tuple[int, ...]:
    """New inodes behind the names = a new write (a missing file is the watcher's to report)."""
    try:
        return tuple(p.stat().st_ino for p in files)
    except FileNotFoundError:
        return ()


@pytest.fixture(scope="module")
def restart_run() -> Iterator[RestartRun]:
    d = Path(tempfile.mkdtemp(prefix="shf-", dir="/tmp"))
    run = RestartRun()
    out = d / "out"
    files = [out / "svid.pem", out / "svid_key.pem", out / "svid_bundle.pem"]
    child_log = d / "child.log"
    agent = DevAgentProcess(d / "sock", {"w": [SPIFFE_ID]}, x509_ttl="1h", state_dir=d / "state")
    (d / "sock").mkdir()
    try:
        agent.start()
        conf = write_conf(
            d / "helper.conf",
            {
                "agent_address": agent.address("w"),
                "cert_dir": str(out),
                "svid_file_name": "svid.pem",
                "svid_key_file_name": "svid_key.pem",
                "svid_bundle_file_name": "svid_bundle.pem",
                "cmd": sys.executable,
                "cmd_args": f"{SIGECHO} {child_log}",
                "renew_signal": "SIGHUP",
            },
        )
        with HelperProcess(conf) as helper:
            helper.wait_for(r"X\.509 certificates updated")
            eventually(lambda: child_log.exists() and child_log.read_text().startswith("ready"), 30, what="child")
            watcher = FilesPresent(files, run)
            watcher.start()
            budget = time.monotonic() + SCENARIO_BUDGET
            for i in range(RESTARTS):
                assert time.monotonic() < budget, f"only {i} restarts within {SCENARIO_BUDGET} s"
                before = generation(files)
                agent.stop(signal.SIGKILL if i % 2 == 0 else signal.SIGTERM)
                time.sleep(DOWN_TIMES[(i // 2) % len(DOWN_TIMES)])
                agent.start()
                back = time.monotonic()
                wait_changed(lambda: generation(files), before, RECONNECT_BOUND, what=f"reconnect {i}")
                run.reconnects.append(time.monotonic() - back)
                kind = f"{'SIGKILL' if i % 2 == 0 else 'SIGTERM'}, down {DOWN_TIMES[(i // 2) % len(DOWN_TIMES)]:g} s"
                run.by_kind.setdefault(kind, []).append(run.reconnects[-1])
            time.sleep(0.2)  # let the last renew signal land
            watcher.done.set()
            watcher.join(5)
            run.helper_alive = helper.running()
            run.helper_log = helper.output()
            if child_log.exists():
                run.child_log = child_log.read_text().splitlines()
                run.child_pids_alive = [
                    int(line.split()[1]) for line in run.child_log if line.startswith("ready") and _alive(line)
                ]
        yield run
    finally:
        agent.close()
        shutil.rmtree(d, ignore_errors=True)


def _alive(ready_line: str) -> bool:
    try:
        return psutil.Process(int(ready_line.split()[1])).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _figures(values: list[float]) -> str:
    ordered = sorted(values)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return f"p50 {pick(0.5):.0f} ms, p90 {pick(0.9):.0f} ms, max {ordered[-1] * 1000:.0f} ms"


def test_helper_reconnects_after_every_restart(restart_run: RestartRun) -> None:
    assert len(restart_run.reconnects) == RESTARTS
    print(f"\nreconnect after the agent's return ({RESTARTS} restarts): {_figures(restart_run.reconnects)}")
    for kind, values in sorted(restart_run.by_kind.items()):
        print(f"  {kind}: {_figures(values)}")
    assert restart_run.helper_alive, restart_run.helper_log[-3000:]


def test_files_never_removed_and_no_traceback(restart_run: RestartRun) -> None:
    assert restart_run.stat_checks > 100, "the file watcher did not run"
    assert restart_run.missing == [], restart_run.missing[:20]
    assert "Traceback" not in restart_run.helper_log, restart_run.helper_log[-4000:]


def test_child_started_once_and_never_restarted(restart_run: RestartRun) -> None:
    ready = [line for line in restart_run.child_log if line.startswith("ready")]
    assert len(ready) == 1, restart_run.child_log
    assert len(restart_run.child_pids_alive) == 1, "the child is no longer running"
    renews = [line for line in restart_run.child_log if line.startswith("SIGHUP")]
    assert renews, "the child never got the renew signal although every restart brought a new SVID"
