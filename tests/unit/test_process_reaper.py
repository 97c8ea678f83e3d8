"""ChildExit values, and the Reaper collecting a watched child and an orphan (in a fresh interpreter)."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import signal

from spiffe_helper.process.reaper import ChildExit, Reaper
from spiffe_helper.process.spawn import spawn
from tests.helpers.isolate import run_isolated


def test_exit_status_decoding() -> None:
    assert ChildExit.from_status(10, 3 << 8) == ChildExit(10, 3, None)
    assert ChildExit.from_status(10, 0) == ChildExit(10, 0, None)
    killed = ChildExit.from_status(10, signal.SIGTERM)
    assert killed == ChildExit(10, 143, signal.SIGTERM)
    assert killed.describe() == "killed by signal SIGTERM"
    assert ChildExit.from_status(10, signal.SIGKILL).exit_code == 137
    assert ChildExit(1, 3).describe() == "exit status 3"


def _is_subreaper() -> bool:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    flag = ctypes.c_int(0)
    libc.prctl(37, ctypes.byref(flag), 0, 0, 0)  # PR_GET_CHILD_SUBREAPER
    return bool(flag.value)


def _watch_and_adopt() -> tuple[int, int, bool, bool]:
    async def main() -> tuple[int, int, bool, bool]:
        reaper = Reaper(tick=0.1)
        reaper.start()
        during = _is_subreaper()
        # sh leaves a background sleep behind: an orphan this process adopts as subreaper and must reap.
        pid = spawn(["sh", "-c", "sleep 0.2 & exit 4"])
        result = await asyncio.wait_for(reaper.watch(pid), 10)
        deadline = asyncio.get_running_loop().time() + 10
        while reaper.orphans_reaped < 1 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        reaper.close()
        return result.exit_code, reaper.orphans_reaped, during, _is_subreaper()

    return asyncio.run(main())


def test_reaper_reports_watched_exits_and_reaps_orphans() -> None:
    code, orphans, during, after = run_isolated(_watch_and_adopt)
    assert code == 4
    assert orphans == 1
    assert during is True and after is False
