"""Creates N orphaned grandchildren, then checks that whoever inherited them reaped every one.

Usage: ``python orphans.py N [WAIT_SECONDS]`` (how long to wait for the reaping, default 15)

Each grandchild's parent exits at once, so the grandchild is re-parented to the nearest subreaper (or to
PID 1 of the PID namespace). It records its new parent and exits shortly after. This program then waits
until each grandchild's /proc entry is gone (reaped) and prints one JSON line:
``{"orphans": N, "new_parents": [...], "zombies": K, "left": L}``. Exit status 0 only when all N were
re-parented and none is left as a zombie.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time


def _state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def _grandchild(report_fd: int, first_parent: int) -> None:
    deadline = time.monotonic() + 10
    while os.getppid() == first_parent and time.monotonic() < deadline:
        time.sleep(0.01)
    os.write(report_fd, f"{os.getpid()} {os.getppid()}\n".encode())
    time.sleep(0.1)
    os._exit(0)


def main() -> int:
    """Fork the orphans, wait for their reports and their disappearance, print the JSON summary."""
    n = int(sys.argv[1])
    wait = float(sys.argv[2]) if len(sys.argv) > 2 else 15.0
    fd, report = tempfile.mkstemp(prefix="orphans-", dir="/tmp")
    os.close(fd)
    report_fd = os.open(report, os.O_WRONLY | os.O_APPEND)
    try:
        for _ in range(n):
            mid = os.fork()
            if mid == 0:
                me = os.getpid()
                if os.fork() == 0:
                    _grandchild(report_fd, me)
                os._exit(0)
            os.waitpid(mid, 0)
        lines: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with open(report) as f:
                lines = f.read().splitlines()
            if len(lines) >= n:
                break
            time.sleep(0.05)
        pids = [int(line.split()[0]) for line in lines]
        parents = sorted({int(line.split()[1]) for line in lines})
        deadline = time.monotonic() + wait
        left = [p for p in pids if _state(p) is not None]
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = [p for p in left if _state(p) is not None]
        zombies = sum(1 for p in left if _state(p) == "Z")
    finally:
        os.close(report_fd)
        os.unlink(report)
    print(json.dumps({"orphans": len(pids), "new_parents": parents, "zombies": zombies, "left": len(left)}))
    sys.stdout.flush()
    return 0 if len(pids) == n and not left else 1


if __name__ == "__main__":
    sys.exit(main())
