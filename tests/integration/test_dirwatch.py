"""The inotify directory watcher on real directories: batches on change, silence on reads, watch sets that
follow the caller, and the kernel dropping a deleted directory."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from spiffe_helper.dirwatch import DirWatch
from tests.helpers.aio import until as _until


async def _count(batches: AsyncIterator[None], seen: list[float]) -> None:
    async for _ in batches:
        seen.append(time.monotonic())


def _run(scenario: Callable[[], object]) -> None:
    asyncio.run(scenario())  # type: ignore[arg-type]


def test_write_makes_a_batch_and_reading_does_not(tmp_path: Path) -> None:
    conf = tmp_path / "helper.conf"
    conf.write_text("a = 1\n")
    seen: list[float] = []

    async def scenario() -> None:
        with DirWatch() as watch:
            watch.watch([str(tmp_path)])
            task = asyncio.create_task(_count(watch.batches(debounce=0.1, quiet=0.02), seen))
            try:
                for _ in range(20):  # what the watcher's owner does on every batch: read the file
                    assert conf.read_bytes() == b"a = 1\n"
                    os.stat(conf)
                await asyncio.sleep(0.5)
                assert seen == []
                conf.write_text("a = 2\n")
                await _until(lambda: seen)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    _run(scenario)


def test_a_burst_is_one_batch_and_a_long_one_is_cut_at_the_debounce(tmp_path: Path) -> None:
    seen: list[float] = []

    async def scenario() -> None:
        with DirWatch() as watch:
            watch.watch([str(tmp_path)])
            task = asyncio.create_task(_count(watch.batches(debounce=0.25, quiet=0.15), seen))
            try:
                for n in range(30):  # one burst, far faster than the quiet period
                    (tmp_path / f"f{n}").write_text("x")
                await _until(lambda: seen)
                await asyncio.sleep(0.4)
                assert len(seen) == 1
                # Events every 50 ms for 1.2 s never leave 150 ms of quiet: only the debounce ends batches.
                start = time.monotonic()
                while time.monotonic() - start < 1.2:
                    (tmp_path / "f0").write_text("y")
                    await asyncio.sleep(0.05)
                assert len(seen) >= 3  # with no cap there would be none until the writes stop
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    _run(scenario)


def test_watch_set_follows_the_caller(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    seen: list[float] = []

    async def scenario() -> None:
        with DirWatch() as watch:
            watch.watch([str(a), str(b)])
            assert watch.dirs == [str(a), str(b)]
            task = asyncio.create_task(_count(watch.batches(debounce=0.05, quiet=0.02), seen))
            try:
                watch.watch([str(b)])  # a is no longer watched
                assert watch.dirs == [str(b)]
                await asyncio.sleep(0.2)
                seen.clear()  # removing a watch is not activity, but be strict only from here on
                (a / "x").write_text("x")
                await asyncio.sleep(0.4)
                assert seen == []
                (b / "x").write_text("x")
                await _until(lambda: seen)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    _run(scenario)


def test_deleted_directory_is_dropped_and_unwatchable_sets_raise(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    seen: list[float] = []

    async def scenario() -> None:
        with DirWatch() as watch:
            watch.watch([str(tmp_path), str(gone)])
            task = asyncio.create_task(_count(watch.batches(debounce=0.05, quiet=0.02), seen))
            try:
                gone.rmdir()
                await _until(lambda: seen and watch.dirs == [str(tmp_path)])
                # A missing directory next to a watchable one is skipped; alone, it is an error.
                watch.watch([str(tmp_path), str(gone)])
                assert watch.dirs == [str(tmp_path)]
                with pytest.raises(FileNotFoundError):
                    watch.watch([str(gone)])
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    _run(scenario)


def test_close_frees_the_descriptor(tmp_path: Path) -> None:
    before = len(os.listdir("/proc/self/fd"))
    watch = DirWatch()
    watch.watch([str(tmp_path)])
    assert len(os.listdir("/proc/self/fd")) == before + 1
    watch.close()
    watch.close()  # idempotent
    assert len(os.listdir("/proc/self/fd")) == before
    assert watch.dirs == []
