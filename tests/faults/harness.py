"""The real ``spiffe-helper`` as a child process, for the fault tests: start, read its log, stop.

The helper runs from the project's virtualenv entry point (``.venv/bin/spiffe-helper``, or ``python -m
spiffe_helper.cli`` with the test interpreter when that script is missing; ``SPIFFE_HELPER_UNDER_TEST``
overrides both) with stdout and stderr in one log file, so a test can wait for a line and check that no
traceback was ever printed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tests.helpers import procs

REPO = Path(__file__).resolve().parents[2]
ENTRY = REPO / ".venv" / "bin" / "spiffe-helper"
T = TypeVar("T")


def helper_command() -> list[str]:
    """How to run the helper: ``$SPIFFE_HELPER_UNDER_TEST`` (a shell-quoted command, to run the campaign
    against another build), else the installed entry point, else the module with this interpreter."""
    override = os.environ.get("SPIFFE_HELPER_UNDER_TEST")
    if override:
        return shlex.split(override)
    if ENTRY.exists():
        return [str(ENTRY)]
    return [sys.executable, "-m", "spiffe_helper.cli"]


def hcl(value: object) -> str:
    """An HCL1 literal for a str, bool, int or list of those."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(hcl(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_conf(path: Path, values: Mapping[str, object], blocks: Mapping[str, Mapping[str, object]] = {}) -> Path:
    """A helper.conf with top-level ``key = value`` lines and ``name { ... }`` blocks."""
    lines = [f"{k} = {hcl(v)}" for k, v in values.items()]
    for name, body in blocks.items():
        lines.append(name + " {")
        lines += [f"  {k} = {hcl(v)}" for k, v in body.items()]
        lines.append("}")
    path.write_text("\n".join(lines) + "\n")
    return path


def eventually(cond: Callable[[], Any], timeout: float = 15.0, interval: float = 0.005, what: str = "") -> Any:
    """:func:`tests.helpers.procs.eventually` with the fault tests' defaults (a fine interval: races matter)."""
    return procs.eventually(cond, timeout, interval, what)


def wait_changed(get: Callable[[], T], before: T, timeout: float = 15.0, interval: float = 0.002, what: str = "") -> T:
    """Poll ``get()`` until it differs from ``before``; the new value (AssertionError at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if value != before:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"no change within {timeout}s: {what or get}")
        time.sleep(interval)


class HelperProcess:
    """One ``spiffe-helper -config CONF [args]`` child; ``umask`` is applied before exec when given."""

    def __init__(
        self, config: Path, args: Sequence[str] = (), *, umask: int | None = None, env: Mapping[str, str] | None = None
    ) -> None:
        argv = [*helper_command(), "-config", str(config), *args]
        if umask is not None:
            # The shell sets the umask and execs: the helper itself starts with it, as under a hostile runtime.
            argv = ["/bin/sh", "-c", f"umask {umask:03o}; exec {shlex.join(argv)}"]
        self.argv = argv
        self.env = dict(os.environ if env is None else env)
        self.env.pop("SPIFFE_ENDPOINT_SOCKET", None)
        fd, name = tempfile.mkstemp(prefix="faults-helper-", suffix=".log", dir="/tmp")
        os.close(fd)
        self.log_path = Path(name)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> HelperProcess:
        """Start the child (its own session, so a stray signal to the test's group never reaches it)."""
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=self.env, start_new_session=True
            )
        return self

    @property
    def pid(self) -> int:
        """The child's pid."""
        assert self.proc is not None
        return self.proc.pid

    def running(self) -> bool:
        """True while the child has not exited."""
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        """Everything the child logged so far."""
        return self.log_path.read_text(errors="replace")

    def lines(self) -> list[str]:
        """The log, line by line."""
        return self.output().splitlines()

    def wait_for(self, pattern: str, timeout: float = 15.0, start: int = 0) -> str:
        """Wait for a log line (from line ``start`` on) matching the regex ``pattern``; returns it."""
        rx = re.compile(pattern)

        def found() -> str | None:
            if not self.running():
                raise AssertionError(f"helper exited ({self.proc and self.proc.returncode}):\n{self.output()[-3000:]}")
            return next((line for line in self.lines()[start:] if rx.search(line)), None)

        return str(eventually(found, timeout, what=f"log line /{pattern}/ in:\n{self.output()[-3000:]}"))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send ``sig`` and wait (SIGKILL after ``timeout``); the exit code."""
        return 0 if self.proc is None else procs.stop_process(self.proc, sig, timeout)

    def close(self) -> None:
        """Stop the child, kill what is left of its session, and remove the log."""
        self.stop()
        if self.proc is not None:
            with contextlib.suppress(OSError):  # a child the helper started, if any survived
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log_path.unlink(missing_ok=True)

    def assert_clean_log(self) -> None:
        """No traceback, and nothing that looks like a key, in anything the helper printed."""
        text = self.output()
        assert "Traceback" not in text, text[-4000:]
        assert "PRIVATE KEY" not in text, "a key was logged"

    def __enter__(self) -> HelperProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def snapshot(paths: Sequence[Path]) -> dict[str, bytes]:
    """The bytes of each file (following symlinks)."""
    return {str(p): p.read_bytes() for p in paths}
