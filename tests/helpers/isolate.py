"""Run a function in a fresh interpreter, for tests whose code reaps with ``waitpid(-1)``.

A :class:`~spiffe_helper.process.reaper.Reaper` inside the pytest process would collect the exit status of
any other child pytest has (another test's server, say) and make this process a subreaper for the rest of
the session. In a freshly spawned interpreter the reaper only ever sees the scenario's own children.

The function must be importable (module level) and its arguments and result picklable. A failure comes
back as an ``AssertionError`` carrying the child's traceback.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

import psutil

T = TypeVar("T")


def _kill_descendants() -> None:
    # A failed scenario may leave children running; as a subreaper this process holds their orphans too.
    for proc in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            proc.kill()


def _trampoline(conn: Connection, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        result = (True, fn(*args))
    except BaseException:
        result = (False, traceback.format_exc())
    finally:
        _kill_descendants()
    conn.send(result)
    conn.close()


def run_isolated(fn: Callable[..., T], *args: Any, timeout: float = 60.0) -> T:
    """``fn(*args)`` in a new process; its result, or AssertionError with its traceback."""
    ctx = multiprocessing.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_trampoline, args=(send, fn, args), daemon=True)
    proc.start()
    send.close()
    try:
        if not recv.poll(timeout):
            raise TimeoutError(f"{getattr(fn, '__name__', fn)} did not finish within {timeout}s")
        ok, value = recv.recv()
    finally:
        if proc.is_alive():
            proc.join(5)
        if proc.is_alive():
            proc.kill()
        proc.join()
        recv.close()
    if not ok:
        raise AssertionError(f"isolated {getattr(fn, '__name__', fn)} failed:\n{value}")
    return value  # type: ignore[no-any-return]
