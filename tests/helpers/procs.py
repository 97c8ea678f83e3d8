"""Shared bits for process tests: helper paths, polling, log capture, PID-namespace probing."""

from __future__ import annotations

import logging
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HELPERS = Path(__file__).resolve().parent
PYTHON = sys.executable
SIGECHO = str(HELPERS / "sigecho.py")
ORPHANS = str(HELPERS / "orphans.py")
SUPERVISE = str(HELPERS / "supervise.py")


def eventually(cond: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02, what: str = "") -> Any:
    """Poll ``cond`` until it returns something truthy; that value, or AssertionError (naming ``what``, else
    ``cond``) at the deadline. The one polling loop of the tests: the harnesses wrap it with their defaults."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {what or cond}")
        time.sleep(interval)


def stop_process(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
    """Send ``sig`` unless ``proc`` has exited, wait (SIGKILL after ``timeout``); the exit code."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def lines(path: Path | str) -> list[str]:
    """The lines of a file, or [] while it does not exist."""
    try:
        return Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []


def unshare_problem() -> str | None:
    """None if ``unshare -Urpf --mount-proc`` works here, else the reason it does not."""
    exe = shutil.which("unshare")
    if exe is None:
        return "unshare(1) is not installed"
    try:
        proc = subprocess.run(
            [exe, "-Urpf", "--mount-proc", "sh", "-c", "echo $$"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"unshare -Urpf failed: {err}"
    if proc.returncode != 0 or proc.stdout.strip() != "1":
        return f"unshare -Urpf --mount-proc does not work here: {proc.stderr.strip() or proc.stdout.strip()}"
    return None


class Captured(logging.Handler):
    """Collects ``(level, message, fields)`` from the ``spiffe_helper`` loggers."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[str, str, dict[str, Any]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        fields = dict(getattr(record, "fields", {}))
        self.records.append((record.levelname.lower(), record.getMessage(), {k: str(v) for k, v in fields.items()}))

    @classmethod
    def install(cls) -> Captured:
        """Attach a new capture to the ``spiffe_helper`` logger at debug level."""
        handler = cls()
        logger = logging.getLogger("spiffe_helper")
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        return handler

    def messages(self, level: str | None = None) -> list[str]:
        """Messages, optionally of one level."""
        return [m for lv, m, _ in self.records if level is None or lv == level]
