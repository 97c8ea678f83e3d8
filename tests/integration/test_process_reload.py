"""Config hot reload: a ConfigMap ``..data`` symlink swap and an editor-style save reach the callback once
per real content change; touches and identical swaps do not."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from spiffe_helper.reload import ConfigChange, ConfigWatcher
from tests.helpers.aio import until as _until


def _configmap(root: Path, version: str, content: str) -> None:
    """Publish ``content`` as helper.conf the way the kubelet's AtomicWriter does."""
    ts = root / f"..{version}"
    ts.mkdir()
    (ts / "helper.conf").write_text(content)
    tmp = root / "..data_tmp"
    tmp.symlink_to(ts.name)
    os.rename(tmp, root / "..data")
    if not (root / "helper.conf").is_symlink():
        (root / "helper.conf").symlink_to("..data/helper.conf")


async def _live(watcher: ConfigWatcher, probe_dir: Path) -> None:
    """Poke the watched directory until the watcher reports events: it is then surely watching."""
    n = 0
    while watcher.batches == 0:
        n += 1
        (probe_dir / f".probe{n}").write_text("x")
        await asyncio.sleep(0.05)
        assert n < 200, "watcher never became live"


@contextlib.asynccontextmanager
async def _running(watcher: ConfigWatcher, live_in: Path | None = None) -> AsyncIterator[ConfigWatcher]:
    """The watcher running in a task (cancelled on exit); with ``live_in``, only once it surely watches."""
    task = asyncio.create_task(watcher.run())
    try:
        if live_in is not None:
            await _live(watcher, live_in)
        yield watcher
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_configmap_symlink_swap(tmp_path: Path) -> None:
    _configmap(tmp_path, "2026_11_22_10_00_00.1", 'agent_address = "/a"\n')
    changes: list[ConfigChange] = []

    async def scenario() -> None:
        conf = tmp_path / "helper.conf"
        watcher = ConfigWatcher(str(conf), changes.append, initial=conf.read_bytes(), debounce_ms=50)
        async with _running(watcher, tmp_path):
            assert changes == []  # probes are not config changes
            _configmap(tmp_path, "2026_11_22_10_05_00.2", 'agent_address = "/b"\n')
            await _until(lambda: changes)
            # The same content published again (new directory, new symlink): no callback.
            _configmap(tmp_path, "2026_11_22_10_10_00.3", 'agent_address = "/b"\n')
            (tmp_path / "helper.conf").touch()
            before = watcher.batches
            await _until(lambda: watcher.batches > before)
            await asyncio.sleep(0.3)
            assert len(changes) == 1
            _configmap(tmp_path, "2026_11_22_10_15_00.4", 'agent_address = "/c"\n')
            await _until(lambda: len(changes) == 2)

    asyncio.run(scenario())
    assert [c.data for c in changes] == [b'agent_address = "/b"\n', b'agent_address = "/c"\n']
    assert changes[0].path == str(tmp_path / "helper.conf")


def test_editor_save_by_rename_and_async_callback(tmp_path: Path) -> None:
    conf = tmp_path / "helper.conf"
    conf.write_text("a = 1\n")
    seen: list[bytes] = []

    async def on_change(change: ConfigChange) -> None:
        await asyncio.sleep(0)
        seen.append(change.data)
        if change.data == b"boom\n":
            raise ValueError("invalid config")  # logged; watching continues

    async def scenario() -> None:
        watcher = ConfigWatcher(str(conf), on_change, debounce_ms=50)
        async with _running(watcher, tmp_path):
            for content in ("boom\n", "a = 2\n"):
                tmp = tmp_path / ".helper.conf.swp"
                tmp.write_text(content)
                os.rename(tmp, conf)
                expected = content.encode()
                await _until(lambda e=expected: e in seen)  # type: ignore[misc]

    asyncio.run(scenario())
    assert seen == [b"boom\n", b"a = 2\n"]


def test_check_compares_digests(tmp_path: Path) -> None:
    conf = tmp_path / "c.conf"
    conf.write_text("x")
    watcher = ConfigWatcher(str(conf), lambda c: None, initial=b"x")
    assert watcher.check() is None
    conf.write_text("y")
    change = watcher.check()
    assert change is not None and change.data == b"y"
    assert watcher.check() is None
    conf.unlink()
    assert watcher.check() is None  # missing for a moment: keep the running config


def test_change_before_the_watch_started_is_reported_at_once(tmp_path: Path) -> None:
    conf = tmp_path / "helper.conf"
    conf.write_text("a = 2\n")  # what the file holds now; the running config was loaded from "a = 1"
    changes: list[ConfigChange] = []

    async def scenario() -> None:
        watcher = ConfigWatcher(str(conf), changes.append, initial=b"a = 1\n")
        async with _running(watcher):
            await _until(lambda: changes)
            assert watcher.batches == 0  # no filesystem event was needed

    asyncio.run(scenario())
    assert [c.data for c in changes] == [b"a = 2\n"]


def test_in_place_edit_in_the_swapped_in_directory(tmp_path: Path) -> None:
    """After a ConfigMap swap the watch follows the symlink into the new directory: an in-place write there
    (not the kubelet's way, but possible) is seen too."""
    _configmap(tmp_path, "v1", "a = 1\n")
    changes: list[ConfigChange] = []

    async def scenario() -> None:
        conf = tmp_path / "helper.conf"
        watcher = ConfigWatcher(str(conf), changes.append, initial=conf.read_bytes(), debounce_ms=50)
        async with _running(watcher, tmp_path):
            _configmap(tmp_path, "v2", "a = 2\n")
            await _until(lambda: len(changes) == 1)
            assert str(tmp_path / "..v2") in watcher.watched_dirs()
            (tmp_path / "..v2" / "helper.conf").write_text("a = 3\n")
            await _until(lambda: len(changes) == 2)

    asyncio.run(scenario())
    assert [c.data for c in changes] == [b"a = 2\n", b"a = 3\n"]


def test_polling_when_asked_or_when_notifications_are_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "helper.conf"
    conf.write_text("a = 1\n")
    seen: list[bytes] = []

    async def save(content: str) -> None:
        tmp = tmp_path / ".helper.conf.swp"
        tmp.write_text(content)
        os.rename(tmp, conf)
        await _until(lambda: content.encode() in seen)

    async def scenario(watcher: ConfigWatcher, content: str) -> None:
        async with _running(watcher, tmp_path):
            await save(content)

    asyncio.run(scenario(ConfigWatcher(str(conf), lambda c: seen.append(c.data), force_polling=True), "a = 2\n"))

    def no_inotify() -> None:
        raise OSError(24, "inotify_init1: Too many open files")  # the node's inotify instance limit

    monkeypatch.setattr("spiffe_helper.reload.DirWatch", no_inotify)
    warnings: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: warnings.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("spiffe_helper.reload")
    logger.addHandler(handler)  # on the module's own logger: the app's setup stops propagation above it
    try:
        asyncio.run(scenario(ConfigWatcher(str(conf), lambda c: seen.append(c.data)), "a = 3\n"))
    finally:
        logger.removeHandler(handler)
    assert seen == [b"a = 2\n", b"a = 3\n"]
    assert "Config file notifications unavailable; polling for changes instead" in warnings


def test_stop_event_ends_the_watch(tmp_path: Path) -> None:
    conf = tmp_path / "helper.conf"
    conf.write_text("a = 1\n")

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(ConfigWatcher(str(conf), lambda c: None).run(stop))
        await asyncio.sleep(0.1)
        assert not task.done()
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())


def test_cancelled_in_the_callback_leaves_the_event_loop_clean(tmp_path: Path) -> None:
    """Cancelled while the callback runs, the watcher closes its inotify descriptor *and* takes it out of
    the loop's selector: the next descriptor with that number (lowest free) can be watched by the loop."""
    conf = tmp_path / "helper.conf"
    conf.write_text("a = 1\n")
    entered = asyncio.Event()

    async def stuck(change: ConfigChange) -> None:
        entered.set()
        await asyncio.Event().wait()

    async def scenario() -> None:
        task = asyncio.create_task(ConfigWatcher(str(conf), stuck, debounce_ms=50).run())
        await asyncio.sleep(0.2)
        conf.write_text("a = 2\n")
        await asyncio.wait_for(entered.wait(), 10)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        with a, b:
            got = asyncio.Event()
            loop.add_reader(a.fileno(), got.set)  # fails if a stale registration holds this number
            try:
                b.send(b"x")
                await asyncio.wait_for(got.wait(), 5)
            finally:
                loop.remove_reader(a.fileno())

    asyncio.run(scenario())
