"""The fast paths of the store keep its guarantees: concurrent fsyncs, deferred pruning, fewer directory syncs.

Real files and real threads; the spies on ``os.fsync`` / ``os.rename`` record and then make the real call.
"""

from __future__ import annotations

import errno
import fcntl
import multiprocessing
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from spiffe_helper.config.model import Config
from spiffe_helper.errors import WriteError
from spiffe_helper.store import durable
from spiffe_helper.store.atomic import DATA_LINK, AtomicDir, DirectoryBusy
from spiffe_helper.store.medium import memory_backed
from spiffe_helper.store.pruner import BackgroundPruner
from spiffe_helper.store.writer import CredentialWriter
from tests.pki import Pki

FILES = {"svid.pem": (b"cert", 0o644), "key.pem": (b"key", 0o600), "bundle.pem": (b"bundle", 0o644)}


def _gens(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.startswith("..2"))


def _files(n: int) -> dict[str, tuple[bytes, int]]:
    return {name: (data + str(n).encode(), mode) for name, (data, mode) in FILES.items()}


def test_fsync_all_reports_each_descriptors_error_in_order(tmp_path: Path) -> None:
    fds = [os.open(tmp_path / f"f{i}", os.O_WRONLY | os.O_CREAT, 0o600) for i in range(3)]
    bad = os.open(tmp_path / "bad", os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(bad)  # a closed descriptor: fsync fails with EBADF
    try:
        results = durable.fsync_all([fds[0], bad, fds[1], fds[2]])
        assert [r is None for r in results] == [True, False, True, True]
        assert isinstance(results[1], OSError) and results[1].errno == errno.EBADF
        assert durable.fsync_all([]) == []
        assert durable.fsync_all([fds[0]]) == [None]
    finally:
        for fd in fds:
            os.close(fd)


def _fsync_in_child(path: str, done: Any) -> None:
    fds = [os.open(f"{path}/c{i}", os.O_WRONLY | os.O_CREAT, 0o600) for i in range(3)]
    done.value = int(durable.fsync_all(fds) == [None, None, None])


def test_fsync_all_works_in_a_forked_child_after_the_parent_used_it(tmp_path: Path) -> None:
    dfd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(5):  # threads the parent used: none of them may be expected to exist in a child
        durable.fsync_all([dfd] * 4)
    os.close(dfd)
    ctx = multiprocessing.get_context("fork")
    done = ctx.Value("i", 0)
    child = ctx.Process(target=_fsync_in_child, args=(str(tmp_path), done))
    child.start()
    child.join(30)
    if child.is_alive():
        child.kill()
        pytest.fail("fsync_all hung in a forked child")
    assert child.exitcode == 0 and done.value == 1


def test_every_file_and_the_generation_are_fsynced_before_data_swaps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Crash safety of the concurrent fsyncs: when ..data is renamed, each new file and the generation
    directory have been fsynced; the output directory is fsynced after the rename, once per update: by
    publish itself when it prunes (and on the first update, which creates the links), else by prune()."""
    synced: list[tuple[int, int]] = []  # (device, inode) of each fsynced descriptor, in call order
    lock = threading.Lock()
    at_swap: list[set[tuple[int, int]]] = []
    real_fsync: Callable[[int], None] = os.fsync
    real_rename: Callable[..., None] = os.rename

    def fsync(fd: int) -> None:
        st = os.fstat(fd)
        real_fsync(fd)
        with lock:
            synced.append((st.st_dev, st.st_ino))

    def rename(src: Any, dst: Any, **kw: Any) -> None:
        if dst == DATA_LINK:
            with lock:
                at_swap.append(set(synced))
        real_rename(src, dst, **kw)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    adir = AtomicDir(str(tmp_path))
    counts = []
    out = tmp_path.stat()
    for n in range(4):
        before = len(synced)
        gen = adir.publish(_files(n), prune=n == 3)
        if n in (1, 2):  # the swap's fsync is left to prune(), which does it before removing anything
            assert synced[-1] != (out.st_dev, out.st_ino)
            removed = len(_gens(tmp_path))
            adir.prune()
            assert synced[-1] == (out.st_dev, out.st_ino) and len(_gens(tmp_path)) <= removed
        counts.append(len(synced) - before)
        gen_dir = tmp_path / gen
        needed = {(gen_dir.stat().st_dev, gen_dir.stat().st_ino)}
        needed |= {((gen_dir / name).stat().st_dev, (gen_dir / name).stat().st_ino) for name in FILES}
        assert needed <= at_swap[n], f"publish {n}: not durable before the swap"
        assert synced[-1] == (out.st_dev, out.st_ino)  # the swap itself, last, after the rename
    # 3 files + generation + output directory, whoever syncs it; the first update: once for the links too.
    assert counts == [5, 5, 5, 5]


def test_publish_without_pruning_keeps_older_generations_until_prune(tmp_path: Path) -> None:
    adir = AtomicDir(str(tmp_path))
    g1 = adir.publish({"old.pem": (b"1", 0o644), **_files(1)}, prune=False)
    g2 = adir.publish(_files(2), prune=False)
    g3 = adir.publish(_files(3), prune=False)
    assert _gens(tmp_path) == sorted([g1, g2, g3])
    assert os.path.islink(tmp_path / "old.pem")  # dangling until the prune
    adir.prune()
    # The previous generation stays: a reader that resolved ..data just before the last swap may use it.
    assert _gens(tmp_path) == sorted([g2, g3])
    assert not os.path.lexists(tmp_path / "old.pem")
    assert (tmp_path / "key.pem").read_bytes() == b"key3"
    adir.prune()  # idempotent
    assert _gens(tmp_path) == sorted([g2, g3])


def test_prune_never_removes_a_generation_newer_than_the_current_one(tmp_path: Path) -> None:
    adir = AtomicDir(str(tmp_path))
    adir.publish(_files(1))
    current = adir.publish(_files(2))
    newer = "..2999_01_01_00_00_00.000000001"  # another writer's, still being filled (or a clock step)
    (tmp_path / newer).mkdir()
    (tmp_path / newer / "svid.pem").write_bytes(b"half")
    AtomicDir(str(tmp_path)).prune()  # a fresh object: previous comes from the names
    assert newer in _gens(tmp_path) and current in _gens(tmp_path) and len(_gens(tmp_path)) == 3


def test_background_pruner_coalesces_requests_and_reports_idle(tmp_path: Path) -> None:
    adir = AtomicDir(str(tmp_path))
    pruner = BackgroundPruner(adir)
    last = ""
    for n in range(6):
        last = adir.publish(_files(n), prune=False)
        pruner.request()
    assert pruner.wait_idle(30)
    assert len(_gens(tmp_path)) == 2 and last in _gens(tmp_path)
    assert os.readlink(tmp_path / DATA_LINK) == last


def _writer(cert_dir: Path, daemon_mode: bool) -> CredentialWriter:
    return CredentialWriter(
        Config(
            cert_dir=str(cert_dir),
            daemon_mode=daemon_mode,
            svid_file_name="svid.pem",
            svid_key_file_name="key.pem",
            svid_bundle_file_name="bundle.pem",
        )
    )


@pytest.mark.parametrize("daemon_mode", [True, False])
def test_writer_prunes_after_each_write_in_both_modes(tmp_path: Path, daemon_mode: bool) -> None:
    pki = Pki.create()
    w = _writer(tmp_path, daemon_mode)
    w.prepare()
    generations = []
    for _ in range(4):
        assert w.write_x509(pki.context()).changed
        generations.append(os.readlink(tmp_path / DATA_LINK))
        if not daemon_mode:  # a one-shot run prunes inline: nothing waits for it but the exit
            assert len(_gens(tmp_path)) <= 2
    assert w.tidy(30)
    assert _gens(tmp_path) == sorted(generations[-2:])


@pytest.mark.parametrize("medium", ["disk", "memory"])
def test_memory_backed_directories_sync_inline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, medium: str) -> None:
    """On tmpfs every fsync still happens, on the writing thread; on disk they are spread over the pool."""
    if medium == "memory":
        if not memory_backed("/dev/shm"):
            pytest.skip("this machine has no tmpfs at /dev/shm")
        base = Path(tempfile.mkdtemp(dir="/dev/shm"))
    else:
        base = tmp_path
    threads: list[int] = []
    real_fsync: Callable[[int], None] = os.fsync

    def fsync(fd: int) -> None:
        threads.append(threading.get_ident())
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    try:
        w = _writer(base / "certs", daemon_mode=False)
        assert w.x509_in_memory is (medium == "memory")
        w.prepare()
        assert w.write_x509(Pki.create().context()).changed
        assert len(threads) >= 5  # three files, the generation, the output directory
        others = set(threads) - {threading.get_ident()}
        assert (not others) if medium == "memory" else others
    finally:
        if medium == "memory":
            shutil.rmtree(base, ignore_errors=True)


def test_a_failed_directory_sync_in_prune_removes_nothing_and_is_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    adir = AtomicDir(str(tmp_path))
    for n in range(3):
        adir.publish(_files(n), prune=False)
    before = _gens(tmp_path)
    real_fsync: Callable[[int], None] = os.fsync
    out_dir = tmp_path.stat()

    def fsync(fd: int) -> None:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) == (out_dir.st_dev, out_dir.st_ino):
            raise OSError(errno.EIO, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(WriteError, match=r'cannot sync directory ".*": Input/output error'):
        adir.prune()
    assert _gens(tmp_path) == before  # the swap may not be durable: the older generations stay
    pruner = BackgroundPruner(adir)
    pruner.request()
    assert pruner.wait_idle(30)
    assert "Unable to make the last update durable" in caplog.text
    assert _gens(tmp_path) == before
    monkeypatch.setattr(os, "fsync", real_fsync)
    adir.prune()
    assert len(_gens(tmp_path)) == 2


def test_publish_without_waiting_refuses_a_directory_another_writer_holds(tmp_path: Path) -> None:
    """The daemon writes on its event loop on tmpfs, but never waits there for another helper's lock."""
    adir = AtomicDir(str(tmp_path))
    first = adir.publish(_files(1))
    other = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)  # another open file: another flock holder
    try:
        fcntl.flock(other, fcntl.LOCK_EX)
        with pytest.raises(DirectoryBusy):
            adir.publish(_files(2), wait=False)
        assert os.readlink(tmp_path / DATA_LINK) == first and _gens(tmp_path) == [first]  # nothing changed
        w = _writer(tmp_path, daemon_mode=True)
        with pytest.raises(DirectoryBusy):
            w.write_x509(Pki.create().context(), wait=False)
    finally:
        os.close(other)
    assert adir.publish(_files(2), wait=False) != first  # free again
