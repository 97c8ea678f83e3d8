"""Wrapper mode (start {} / reload {}): grace period, restart policies, reload actions, spawn failures.

Whole-process behaviour goes through tests/helpers/supervise.py; finer steps run in a fresh interpreter
(run_isolated) because the Reaper waits on every child of its process.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from spiffe_helper.process.reaper import Reaper
from spiffe_helper.process.wrapper import AppSupervisor, ReloadAction, RestartBackoff
from tests.helpers.aio import until as _until
from tests.helpers.isolate import run_isolated
from tests.helpers.procs import PYTHON, SIGECHO, SUPERVISE, Captured, eventually, lines

COUNTER = 'n=$(cat "$0" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$0"; '


def test_grace_period_ends_in_sigkill(tmp_path: Path) -> None:
    log = tmp_path / "sig.log"
    cmd = [PYTHON, SUPERVISE, "--grace", "0.5", "--", PYTHON, SIGECHO, str(log), "--term", "ignore"]
    with subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True) as proc:
        eventually(lambda: lines(log))
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert lines(log)[1:] == ["SIGTERM"]
    assert proc.returncode == 137, err  # 128 + SIGKILL
    assert "did not exit within the grace period" in err


def test_sigint_stops_with_the_childs_code(tmp_path: Path) -> None:
    log = tmp_path / "sig.log"
    cmd = [PYTHON, SUPERVISE, "--", PYTHON, SIGECHO, str(log)]
    with subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True) as proc:
        eventually(lambda: lines(log))
        proc.send_signal(signal.SIGINT)
        eventually(lambda: "SIGINT" in lines(log))
        proc.send_signal(signal.SIGTERM)  # sigecho ignores SIGINT's default action: stop it for real
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_restart_on_failure_until_success(tmp_path: Path) -> None:
    counter = tmp_path / "n"
    script = COUNTER + '[ "$n" -ge 3 ] && exit 0; exit 5'
    proc = subprocess.run(
        [PYTHON, SUPERVISE, "--restart", "on-failure", "--", "sh", "-c", script, str(counter)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert counter.read_text().strip() == "3"
    assert "restarts=2" in proc.stderr
    assert proc.stderr.count("Restarting process") == 2


def test_restart_never_keeps_the_failure(tmp_path: Path) -> None:
    counter = tmp_path / "n"
    proc = subprocess.run(
        [PYTHON, SUPERVISE, "--", "sh", "-c", COUNTER + "exit 5", str(counter)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 5
    assert counter.read_text().strip() == "1"


def test_restart_always_restarts_clean_exits_too(tmp_path: Path) -> None:
    counter = tmp_path / "n"
    script = COUNTER + '[ "$n" -ge 3 ] && exec sleep 60; exit 0'
    cmd = [PYTHON, SUPERVISE, "--restart", "always", "--", "sh", "-c", script, str(counter)]
    with subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True) as proc:
        eventually(lambda: counter.exists() and counter.read_text().strip() == "3")
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err  # sleep died of the forwarded SIGTERM
    assert "restarts=2" in err


# --- in-process scenarios (fresh interpreter each) ------------------------------------------------------


def _reload_scenario(tmp: str) -> dict[str, Any]:
    """App + reload.signal, then reload.cmd coalescing, then stop."""
    captured = Captured.install()

    async def main() -> dict[str, Any]:
        reaper = Reaper(tick=0.2)
        reaper.start()
        log = f"{tmp}/app.log"
        runs = f"{tmp}/runs"
        sup = AppSupervisor(
            reaper,
            cmd=PYTHON,
            args=(SIGECHO, log),
            reload=ReloadAction(signal="SIGUSR1", cmd="sh", args=("-c", f"sleep 0.3; echo run >> {runs}")),
            grace_period=5,
            foreground_tty=False,
        )
        sup.on_credentials_written(True)
        await _until(lambda: lines(log))
        first_lines = list(lines(log))
        sup.on_credentials_written(False)  # unchanged: nothing at all
        await asyncio.sleep(0.3)
        unchanged_lines = list(lines(log))
        for _ in range(4):  # four rotations while the first reload command runs: one more run
            sup.on_credentials_written(True)
            await asyncio.sleep(0.02)
        await sup.idle()
        await _until(lambda: lines(log).count("SIGUSR1") == 4)
        code = await sup.stop()
        reaper.close()
        return {
            "first": first_lines,
            "unchanged": unchanged_lines,
            "final": lines(log),
            "runs": lines(runs),
            "code": code,
            "messages": captured.messages(),
        }

    return asyncio.run(main())


def test_reload_signal_and_command(tmp_path: Path) -> None:
    r = run_isolated(_reload_scenario, str(tmp_path))
    assert len(r["first"]) == 1 and r["first"][0].startswith("ready ")
    assert r["unchanged"] == r["first"]  # no signal for an unchanged write, and none at start
    assert r["final"][1:] == ["SIGUSR1"] * 4 + ["SIGTERM"]
    assert r["runs"] == ["run", "run"]  # never overlapping; rotations during a run coalesce
    assert r["code"] == 0
    assert "Process started" in r["messages"] and "Process exited" in r["messages"]
    assert r["messages"].count("Reload command succeeded") == 2


def _spawn_failure_scenario() -> tuple[int, list[str]]:
    captured = Captured.install()

    async def main() -> int:
        reaper = Reaper()
        reaper.start()
        sup = AppSupervisor(reaper, cmd="no-such-command-spiffe", restart="always", foreground_tty=False)
        sup.on_credentials_written(True)
        code = await asyncio.wait_for(sup.wait_exit(), 10)
        reaper.close()
        return code

    return asyncio.run(main()), captured.messages("error")


def test_missing_app_ends_with_127_whatever_the_policy() -> None:
    code, errors = run_isolated(_spawn_failure_scenario)
    assert code == 127
    assert errors == ["Unable to start process"]


def _reload_only_scenario(tmp: str) -> list[str]:
    async def main() -> list[str]:
        reaper = Reaper()
        reaper.start()
        runs = f"{tmp}/runs"
        sup = AppSupervisor(
            reaper,
            reload=ReloadAction(cmd="sh", args=("-c", f"echo run >> {runs}")),
            backoff=RestartBackoff(),
            foreground_tty=False,
        )
        sup.on_credentials_written(True)  # no app: the first write runs the reload command (as legacy cmd)
        await sup.idle()
        sup.on_credentials_written(False)
        await sup.idle()
        sup.on_credentials_written(True)
        await sup.idle()
        await sup.stop()
        reaper.close()
        return lines(runs)

    return asyncio.run(main())


def test_reload_command_without_app(tmp_path: Path) -> None:
    assert run_isolated(_reload_only_scenario, str(tmp_path)) == ["run", "run"]
