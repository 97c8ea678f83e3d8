"""Shared helpers of the benchmarks: machine description, tables, percentiles, measured child processes.

Every bench prints the machine it ran on (the figures mean little without it: this is a shared 2-core box)
and the reference it compares against, measured in the same run.
"""

from __future__ import annotations

import ctypes
import math
import os
import platform
import queue
import shutil
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = REPO / ".venv" / "bin"
HELPER = VENV_BIN / "spiffe-helper"
VENV_PYTHON = VENV_BIN / "python"

# The py-spiffe reference comes from the virtualenv the interop test uses (one helper, one cache).
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
from tests.pyspiffe_env import pyspiffe_python  # noqa: E402

__all__ = ["pyspiffe_python"]  # re-exported for the benches


# -- machine ---------------------------------------------------------------------------------------------
def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or the platform's processor string)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_lines() -> list[str]:
    """A few lines describing the machine: CPUs, model, Python, kernel, load at start."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"machine: {os.cpu_count()} CPUs ({usable} usable), {cpu_model()}",
        f"python:  {platform.python_implementation()} {platform.python_version()} ({sys.executable})",
        f"kernel:  {platform.system()} {platform.release()}; load average at start {load}",
    ]


def print_header(title: str) -> None:
    """The bench title and the machine it runs on."""
    print(title)
    for line in machine_lines():
        print("  " + line)
    print()


# -- numbers ---------------------------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation between closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def median(values: Sequence[float]) -> float:
    """The 50th percentile."""
    return percentile(values, 50)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain aligned text table (first column left-aligned, the others right-aligned)."""
    cells = [[str(h) for h in headers], *[[_fmt(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        parts = [row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))]
        return "  ".join(parts).rstrip()

    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))
    print()


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.2f}"
    return str(value)


def verdict(value: float, target: float) -> str:
    """``ok`` when ``value <= target``, else ``MISS``."""
    if math.isnan(value):
        return "n/a"
    return "ok" if value <= target else "MISS"


# -- measured child processes ----------------------------------------------------------------------------
@dataclass(frozen=True)
class RunResult:
    """One child process run: wall time from spawn to reap, CPU time (user+sys), its own peak RSS, exit code,
    output (stdout and stderr together)."""

    wall: float
    cpu: float
    max_rss_kb: int
    returncode: int
    output: str


def measure_process(
    argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: str | None = None, timeout: float = 120.0
) -> RunResult:
    """Spawn ``argv``, wait for it with ``wait4`` and return its wall time and peak RSS.

    ``wait4`` reports the resource usage of exactly that child (and the descendants it reaped), unlike
    ``getrusage(RUSAGE_CHILDREN)`` which keeps the maximum over every child this bench ever waited for.
    """
    with tempfile.TemporaryFile() as out:
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, out.fileno(), 1),
            (os.POSIX_SPAWN_DUP2, out.fileno(), 2),
        ]
        if cwd is not None:
            argv = ["/bin/sh", "-c", 'cd "$0" && exec "$@"', cwd, *argv]
        start = time.perf_counter()
        pid = os.posix_spawn(argv[0], list(argv), dict(os.environ if env is None else env), file_actions=actions)
        deadline = start + timeout
        while True:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                break
            if time.perf_counter() > deadline:
                os.kill(pid, 9)
                done, status, usage = os.wait4(pid, 0)
                break
            time.sleep(0.0005)
        wall = time.perf_counter() - start
        out.seek(0)
        text = out.read().decode(errors="replace")
    return RunResult(
        wall, usage.ru_utime + usage.ru_stime, int(usage.ru_maxrss), os.waitstatus_to_exitcode(status), text
    )


def process_tree_rss(pid: int) -> int:
    """Resident set size in bytes of ``pid`` plus its descendants (psutil)."""
    import psutil

    proc = psutil.Process(pid)
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        with suppress(psutil.Error):
            total += child.memory_info().rss
    return int(total)


# -- configs and scratch directories ---------------------------------------------------------------------
def hcl_value(value: object) -> str:
    """An HCL1 literal for a str, bool or int."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_helper_conf(path: Path, values: Mapping[str, object], blocks: str = "") -> Path:
    """Write a helper.conf with ``key = value`` lines plus raw HCL ``blocks``."""
    lines = [f"{k} = {hcl_value(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n" + blocks)
    return path


@contextmanager
def scratch_dir(prefix: str = "shb-", base: Path = Path("/tmp")) -> Iterator[Path]:
    """A directory under ``base`` (by default /tmp: short enough for Unix socket paths), removed afterwards."""
    d = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


PYCACHE = "/tmp/sh-bench-pycache"


def helper_env() -> dict[str, str]:
    """The environment for measured child processes.

    No ``SPIFFE_ENDPOINT_SOCKET`` (the config's address must win). Bytecode is cached, as after a pip
    install, but under /tmp (``PYTHONPYCACHEPREFIX``) so the work tree stays clean: with
    ``PYTHONDONTWRITEBYTECODE`` set (as in some shells and CI), every cold run would compile our modules
    from source while the libraries load their installed .pyc files, which measures the environment.
    """
    env = dict(os.environ)
    env.pop("SPIFFE_ENDPOINT_SOCKET", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = PYCACHE
    return env


# -- inotify (Linux) -------------------------------------------------------------------------------------
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
_EVENT = struct.Struct("iIII")


class Inotify:
    """Timestamps of directory events, read by a thread blocked in ``read(2)`` (no polling delay).

    ``events`` receives ``(time.monotonic(), name, mask)`` for every event on the watched directories.
    """

    def __init__(self, mask: int = IN_MOVED_TO) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self._libc.inotify_init1(os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.mask = mask
        self._closed = False
        self.events: queue.Queue[tuple[float, str, int]] = queue.Queue()
        self._thread = threading.Thread(target=self._read, name="inotify", daemon=True)
        self._thread.start()

    def watch(self, directory: Path) -> None:
        """Add a directory (it must exist)."""
        if self._libc.inotify_add_watch(self.fd, os.fsencode(directory), self.mask) < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {directory}")

    def _read(self) -> None:
        while not self._closed:
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                return
            if self._closed:
                # Woken after close(): the descriptor number may already belong to a newer Inotify, whose
                # events this thread must not steal.
                return
            now = time.monotonic()
            offset = 0
            while offset + _EVENT.size <= len(data):
                _wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                raw = data[offset + _EVENT.size : offset + _EVENT.size + length]
                self.events.put((now, raw.split(b"\0", 1)[0].decode(errors="replace"), mask))
                offset += _EVENT.size + length

    def wait_for(self, name: str, after: float, timeout: float) -> float | None:
        """The time of the first event on ``name`` at or after ``after``; None on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                when, got, _mask = self.events.get(timeout=remaining)
            except queue.Empty:
                return None
            if got == name and when >= after:
                return when

    def drain(self) -> None:
        """Forget queued events."""
        with suppress(queue.Empty):
            while True:
                self.events.get_nowait()

    def close(self) -> None:
        """Stop watching; the reader thread ends when its blocked read returns."""
        self._closed = True
        os.close(self.fd)
