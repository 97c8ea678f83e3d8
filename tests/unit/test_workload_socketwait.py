"""Waiting for the agent's socket file (spiffe_helper/workload/socketwait.py): real directories, real sockets."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from spiffe_helper.workload.socketwait import nearest_existing_dir, socket_identity, wait_for_socket


def _bind(path: Path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    return s


async def _later(delay: float, action: Callable[[], object]) -> float:
    await asyncio.sleep(delay)
    action()
    return time.monotonic()


def test_nearest_existing_dir(sock_dir: Path) -> None:
    assert nearest_existing_dir(str(sock_dir)) == str(sock_dir)
    assert nearest_existing_dir(str(sock_dir / "a" / "b" / "c")) == str(sock_dir)
    assert nearest_existing_dir("/") == "/"


def test_socket_identity_changes_when_the_file_is_replaced(sock_dir: Path) -> None:
    path = sock_dir / "a.sock"
    assert socket_identity(str(path)) is None
    first = _bind(path)
    before = socket_identity(str(path))
    path.unlink()
    first.close()
    time.sleep(0.01)  # ctime granularity: a restarted agent takes far longer than this
    with _bind(path):
        assert socket_identity(str(path)) not in (None, before)


def test_socket_appearing_in_missing_directories_is_seen(sock_dir: Path) -> None:
    path = sock_dir / "x" / "y" / "agent.sock"
    sockets: list[socket.socket] = []

    def create() -> None:
        path.parent.mkdir(parents=True)
        sockets.append(_bind(path))

    async def main() -> tuple[bool, float, float]:
        creator = asyncio.create_task(_later(0.3, create))
        start = time.monotonic()
        seen = await asyncio.wait_for(wait_for_socket(str(path), 0.05, seen=None), 10)  # no deadline applies
        done = time.monotonic()
        return seen, done - start, done - await creator

    seen, waited, latency = asyncio.run(main())
    for s in sockets:
        s.close()
    print(f"socket in new directories noticed {latency * 1000:.0f} ms after creation")
    assert seen is True
    assert waited >= 0.25  # it really waited for the file, past the 0.05 s backoff
    assert latency < 3.0  # generous bound on a loaded box; typically ~30 ms


def test_unchanged_socket_waits_for_the_delay(sock_dir: Path) -> None:
    path = sock_dir / "agent.sock"
    with _bind(path):
        start = time.monotonic()
        assert asyncio.run(wait_for_socket(str(path), 0.3, seen=socket_identity(str(path)))) is False
        waited = time.monotonic() - start
    assert 0.29 <= waited < 3.0


def test_replaced_socket_ends_the_wait_early(sock_dir: Path) -> None:
    path = sock_dir / "agent.sock"
    old = _bind(path)
    new: list[socket.socket] = []

    def restart() -> None:  # what a restarting agent does: unlink the stale file, bind a new one
        path.unlink()
        old.close()
        new.append(_bind(path))

    async def main() -> tuple[bool, float]:
        restarter = asyncio.create_task(_later(0.2, restart))
        seen = await wait_for_socket(str(path), 30, seen=socket_identity(str(path)))
        return seen, time.monotonic() - await restarter

    seen, latency = asyncio.run(main())
    new[0].close()
    print(f"replaced socket noticed {latency * 1000:.0f} ms after the restart")
    assert seen is True
    assert latency < 3.0  # far below the 30 s delay


def test_stale_socket_renamed_over_ends_the_wait_early(sock_dir: Path) -> None:
    # What the dev agent (and a careful real agent) does: bind in a private staging directory, then rename the
    # new socket over the stale file. The name never disappears; only the inode changes.
    path = sock_dir / "agent.sock"
    _bind(path).close()  # a killed agent: the file stays, nothing listens
    stage = sock_dir / ".stage"
    stage.mkdir()
    new: list[socket.socket] = []

    def restart() -> None:
        new.append(_bind(stage / "s"))
        os.replace(stage / "s", path)

    async def main() -> tuple[bool, float]:
        restarter = asyncio.create_task(_later(0.2, restart))
        seen = await asyncio.wait_for(wait_for_socket(str(path), 30, seen=socket_identity(str(path))), 10)
        return seen, time.monotonic() - await restarter

    seen, latency = asyncio.run(main())
    new[0].close()
    print(f"socket renamed over a stale one noticed {latency * 1000:.0f} ms after the rename")
    assert seen is True
    assert latency < 3.0  # far below the 30 s delay


@pytest.mark.parametrize("before", ["missing", "stale"])
def test_socket_changed_since_the_attempt_ends_the_wait_at_once(sock_dir: Path, before: str) -> None:
    # The caller passes the identity from before its failed attempt; a socket that appeared or was replaced
    # since (while the failure was being reported) is a fresh agent: no watching, no delay.
    path = sock_dir / "agent.sock"
    seen = None
    if before == "stale":
        _bind(path).close()
        seen = socket_identity(str(path))
        path.unlink()
        time.sleep(0.01)  # ctime granularity, as above
    with _bind(path):
        start = time.monotonic()
        assert asyncio.run(wait_for_socket(str(path), 30, seen=seen)) is True
        elapsed = time.monotonic() - start
    assert elapsed < 1.0  # at once, not after the 30 s delay nor a watcher step


def test_removed_socket_is_waited_for_past_the_deadline(sock_dir: Path) -> None:
    path = sock_dir / "agent.sock"
    old = _bind(path)
    new: list[socket.socket] = []

    async def main() -> tuple[bool, float]:
        remover = asyncio.create_task(_later(0.05, path.unlink))
        creator = asyncio.create_task(_later(0.8, lambda: new.append(_bind(path))))
        start = time.monotonic()
        seen = await asyncio.wait_for(wait_for_socket(str(path), 0.2, seen=socket_identity(str(path))), 10)
        await remover
        await creator
        return seen, time.monotonic() - start

    seen, waited = asyncio.run(main())
    old.close()
    new[0].close()
    assert seen is True
    assert waited >= 0.75


def test_cancelling_a_wait_is_prompt(sock_dir: Path) -> None:
    path = sock_dir / "never.sock"

    async def main() -> float:
        waiter = asyncio.create_task(wait_for_socket(str(path), 1, seen=None))
        await asyncio.sleep(0.2)
        start = time.monotonic()
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        return time.monotonic() - start

    elapsed = asyncio.run(main())
    print(f"cancel took {elapsed * 1000:.1f} ms")
    assert elapsed < 1.0
    assert not os.path.exists(path)


def test_watching_a_vanished_directory_degrades_to_periodic_rechecks(sock_dir: Path) -> None:
    from spiffe_helper.workload.socketwait import RECHECK_MS, _changes

    async def main() -> tuple[set[Any], float]:
        start = time.monotonic()
        batches = _changes(str(sock_dir / "gone"), None)
        try:
            first = await asyncio.wait_for(anext(batches), 10)
        finally:
            await batches.aclose()
        return first, time.monotonic() - start

    first, elapsed = asyncio.run(main())
    assert first == set()  # no error: an empty batch, so the caller re-checks the file system
    assert elapsed < RECHECK_MS / 1000 + 2.0
