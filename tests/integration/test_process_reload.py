"""Config hot reload: a ConfigMap ``..data`` symlink swap and an editor-style save reach the callback once
per real content change; touches and identical swaps do not."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

from spiffe_helper.reload import ConfigChange, ConfigWatcher


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


async def _until(cond: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.02)


async def _live(watcher: ConfigWatcher, probe_dir: Path) -> None:
    """Poke the watched directory until the watcher reports events: it is then surely watching."""
    n = 0
    while watcher.batches == 0:
        n += 1
        (probe_dir / f".probe{n}").write_text("x")
        await asyncio.sleep(0.05)
        assert n < 200, "watcher never became live"


def test_configmap_symlink_swap(tmp_path: Path) -> None:
    _configmap(tmp_path, "2026_11_22_10_00_00.1", 'agent_address = "/a"\n')
    changes: list[ConfigChange] = []

    async def scenario() -> None:
        conf = tmp_path / "helper.conf"
        watcher = ConfigWatcher(str(conf), changes.append, initial=conf.read_bytes(), debounce_ms=50)
        task = asyncio.create_task(watcher.run())
        try:
            await _live(watcher, tmp_path)
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
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

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
        task = asyncio.create_task(watcher.run())
        try:
            await _live(watcher, tmp_path)
            for content in ("boom\n", "a = 2\n"):
                tmp = tmp_path / ".helper.conf.swp"
                tmp.write_text(content)
                os.rename(tmp, conf)
                expected = content.encode()
                await _until(lambda e=expected: e in seen)  # type: ignore[misc]
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

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
