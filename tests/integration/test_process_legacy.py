"""Legacy cmd / cmd_args / renew_signal / pid_file_name semantics, with real children and real signals.

Each scenario runs in a fresh interpreter (run_isolated): the Reaper waits on every child of its process.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

from spiffe_helper.process.legacy import LegacySupervisor
from spiffe_helper.process.pidfile import PidFileSignaller
from spiffe_helper.process.reaper import Reaper
from tests.helpers.aio import until as _until
from tests.helpers.isolate import run_isolated
from tests.helpers.procs import PYTHON, SIGECHO, Captured, lines


def _lifecycle(tmp: str) -> dict[str, Any]:
    captured = Captured.install()
    log = f"{tmp}/sig.log"
    steps: dict[str, Any] = {}

    async def main() -> None:
        reaper = Reaper(tick=0.2)
        reaper.start()
        sup = LegacySupervisor(reaper, cmd=PYTHON, cmd_args=f'{SIGECHO} "{log}"', renew_signal="SIGHUP")
        steps["before"] = lines(log)
        sup.on_credentials_written(True)  # first write: start, no signal
        await _until(lambda: lines(log))
        await asyncio.sleep(0.2)
        steps["started"] = lines(log)
        first_pid = sup.child_pid
        sup.on_credentials_written(False)  # unchanged: nothing
        await asyncio.sleep(0.3)
        steps["unchanged"] = lines(log)
        sup.on_credentials_written(True)  # changed: the renew signal
        await _until(lambda: "SIGHUP" in lines(log))
        steps["changed"] = lines(log)
        assert first_pid is not None
        os.kill(first_pid, signal.SIGTERM)  # the child exits on its own (sigecho: exit 0)
        await _until(lambda: sup.child_pid is None)
        sup.on_credentials_written(False)  # exited + unchanged: not re-run
        await asyncio.sleep(0.3)
        steps["exited_unchanged"] = lines(log)
        sup.on_credentials_written(True)  # exited + changed: re-run, no signal
        await _until(lambda: len([x for x in lines(log) if x.startswith("ready")]) == 2)
        steps["rerun"] = lines(log)
        steps["pids"] = (first_pid, sup.child_pid)
        steps["stop_code"] = await sup.stop()
        steps["after_stop"] = lines(log)
        reaper.close()

    asyncio.run(main())
    steps["records"] = captured.records
    return steps


def test_first_write_starts_changes_signal_exits_rerun(tmp_path: Path) -> None:
    s = run_isolated(_lifecycle, str(tmp_path))
    first_pid, second_pid = s["pids"]
    assert s["before"] == []
    assert s["started"] == [f"ready {first_pid}"]
    assert s["unchanged"] == s["started"]
    assert s["changed"] == [f"ready {first_pid}", "SIGHUP"]
    assert s["exited_unchanged"] == [f"ready {first_pid}", "SIGHUP", "SIGTERM"]
    assert s["rerun"] == [f"ready {first_pid}", "SIGHUP", "SIGTERM", f"ready {second_pid}"]
    assert second_pid != first_pid
    assert s["after_stop"][-1] == "SIGTERM"  # shutdown: SIGTERM to the group
    assert s["stop_code"] == 0  # Go exits 0 on a clean stop
    started = [f for lv, m, f in s["records"] if m == "Process started"]
    exited = [f for lv, m, f in s["records"] if m == "Process exited"]
    assert [f["pid"] for f in started] == [str(first_pid), str(second_pid)]
    assert [(f["pid"], f["exit_code"]) for f in exited] == [(str(first_pid), "0"), (str(second_pid), "0")]
    assert not [m for lv, m, _ in s["records"] if lv == "error"]


def _reloader(tmp: str) -> list[str]:
    """cmd without renew_signal: a one-shot reloader re-run once per changed write (the mysql pattern)."""

    async def main() -> list[str]:
        reaper = Reaper(tick=0.2)
        reaper.start()
        runs = f"{tmp}/runs"
        sup = LegacySupervisor(reaper, cmd="sh", cmd_args=["-c", f'echo "$1" >> {runs}', "sh", "run"])
        for changed in (True, False, True, True, False):
            sup.on_credentials_written(changed)
            await _until(lambda: sup.child_pid is None)
        await sup.stop()
        reaper.close()
        return lines(runs)

    return asyncio.run(main())


def test_reloader_runs_once_per_change(tmp_path: Path) -> None:
    assert run_isolated(_reloader, str(tmp_path)) == ["run", "run", "run"]


def _errors(tmp: str) -> list[tuple[str, str, dict[str, str]]]:
    captured = Captured.install()

    async def main() -> None:
        reaper = Reaper()
        reaper.start()
        bad_args = LegacySupervisor(reaper, cmd="sh", cmd_args='--name=foo"bar')
        bad_args.on_credentials_written(True)
        bad_args.on_credentials_written(False)  # a failed launch is retried at every write
        missing = LegacySupervisor(reaper, cmd="no-such-command-spiffe")
        missing.on_credentials_written(True)
        bad_signal = LegacySupervisor(reaper, cmd="sleep", cmd_args="30", renew_signal="HUP")
        bad_signal.on_credentials_written(True)
        bad_signal.on_credentials_written(True)
        await bad_signal.stop()
        reaper.close()

    asyncio.run(main())
    return [r for r in captured.records if r[0] == "error"]


def test_errors_use_gos_lines(tmp_path: Path) -> None:
    errors = run_isolated(_errors, str(tmp_path))
    parse = 'error parsing cmd arguments: parse error on line 1, column 11: bare " in non-quoted-field'
    missing = (
        'error executing process "no-such-command-spiffe": exec: "no-such-command-spiffe": '
        "executable file not found in $PATH"
    )
    assert errors == [
        ("error", "Unable to signal process", {"error": parse}),
        ("error", "Unable to signal process", {"error": parse}),
        ("error", "Unable to signal process", {"error": missing}),
        ("error", "Unable to signal process", {"error": "error getting signal: HUP"}),
    ]


def _grace(tmp: str) -> tuple[int, float, list[str]]:
    log = f"{tmp}/sig.log"

    async def main() -> tuple[int, float, list[str]]:
        reaper = Reaper()
        reaper.start()
        sup = LegacySupervisor(reaper, cmd=PYTHON, cmd_args=[SIGECHO, log, "--term", "ignore"], grace_period=0.5)
        sup.on_credentials_written(True)
        await _until(lambda: lines(log))
        child = sup.child
        assert child is not None
        t0 = time.monotonic()
        code = await sup.stop()
        took = time.monotonic() - t0
        result = child.exited.result()
        reaper.close()
        return code, took, [*lines(log), f"exit {result.exit_code}"]

    return asyncio.run(main())


def test_stop_escalates_to_sigkill_after_the_grace_period(tmp_path: Path) -> None:
    code, took, log = run_isolated(_grace, str(tmp_path))
    assert code == 0
    assert log[1:] == ["SIGTERM", "exit 137"]
    assert took >= 0.5


def _pidfile(tmp: str) -> dict[str, Any]:
    captured = Captured.install()
    log = f"{tmp}/sig.log"
    pidfile = f"{tmp}/app.pid"

    async def main() -> dict[str, Any]:
        reaper = Reaper()
        reaper.start()
        # The process behind the pid file is someone else's: start it outside the supervisor.
        other = LegacySupervisor(reaper, cmd=PYTHON, cmd_args=[SIGECHO, log])
        other.on_credentials_written(True)
        await _until(lambda: lines(log))
        pid = other.child_pid
        signaller = PidFileSignaller(pidfile, "SIGUSR2", attempts=10, base_delay=0.02, factor=1.5)
        sup = LegacySupervisor(reaper, renew_signal="SIGUSR2", pid_file=signaller)
        sup.on_credentials_written(True)  # first write signals the pid file (retrying until it appears)
        await asyncio.sleep(0.2)
        Path(pidfile).write_text(f"{pid}\n")
        await sup.idle()
        # Wait for each delivery: two identical signals sent close together coalesce into one.
        await _until(lambda: lines(log).count("SIGUSR2") == 1)
        sup.on_credentials_written(False)  # unchanged: no signal
        await sup.idle()
        await asyncio.sleep(0.2)
        assert lines(log).count("SIGUSR2") == 1
        sup.on_credentials_written(True)  # changed: signal
        await sup.idle()
        await _until(lambda: lines(log).count("SIGUSR2") == 2)
        Path(pidfile).write_text("999999999\n")  # stale (beyond pid_max)
        sup.on_credentials_written(True)
        await sup.idle()
        await other.stop()
        await sup.stop()
        reaper.close()
        return {"log": lines(log), "pid": pid}

    out = asyncio.run(main())
    out["errors"] = [r for r in captured.records if r[0] == "error"]
    return out


def test_pid_file_signalling(tmp_path: Path) -> None:
    r = run_isolated(_pidfile, str(tmp_path))
    assert r["log"][1:] == ["SIGUSR2", "SIGUSR2", "SIGTERM"]
    assert len(r["errors"]) == 1
    _, message, fields = r["errors"][0]
    assert message == "Unable to signal PID file"
    assert "stale pid file" in fields["error"] and "no process with pid 999999999" in fields["error"]
