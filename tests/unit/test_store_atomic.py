"""atomic.py on real files: modes under any umask, staging before renames, the ..data layout, crash leftovers."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from spiffe_helper.errors import WriteError
from spiffe_helper.store import atomic
from spiffe_helper.store.atomic import DATA_LINK, DATA_TMP, AtomicDir, FileSpec, dir_mode_for, replace_files


@pytest.fixture(params=[0o000, 0o022, 0o077])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_dir_mode_for() -> None:
    assert dir_mode_for([0o600]) == 0o700
    assert dir_mode_for([0o600, 0o400]) == 0o700
    assert dir_mode_for([0o644, 0o600]) == 0o755
    assert dir_mode_for([0o640, 0o600]) == 0o750
    assert dir_mode_for([0o604]) == 0o705


def test_ensure_dir_creates_parents_and_exact_mode(tmp_path: Path, umask: int) -> None:
    target = tmp_path / "a" / "b" / "certs"
    assert atomic.ensure_dir(str(target), 0o700) is True
    assert _mode(target) == 0o700
    assert atomic.ensure_dir(str(target), 0o755) is False  # existing: left alone
    assert _mode(target) == 0o700


def test_replace_files_exact_modes_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    specs = [FileSpec(str(tmp_path / "k"), b"key", 0o600), FileSpec(str(tmp_path / "c"), b"cert", 0o644)]
    replace_files(specs)
    assert (tmp_path / "k").read_bytes() == b"key" and _mode(tmp_path / "k") == 0o600
    assert (tmp_path / "c").read_bytes() == b"cert" and _mode(tmp_path / "c") == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "k"]  # no temporary files left


def test_modes_are_reapplied_on_every_write_even_read_only(tmp_path: Path) -> None:
    path = tmp_path / "cert.pem"
    path.write_bytes(b"old")
    path.chmod(0o666)
    replace_files([FileSpec(str(path), b"one", 0o444)])
    assert _mode(path) == 0o444
    replace_files([FileSpec(str(path), b"two", 0o444)])  # Go fails here for non-root (issue #422)
    assert path.read_bytes() == b"two" and _mode(path) == 0o444


def test_files_are_created_exclusively_with_their_final_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A spy on os.open (the real call still runs): every creation is O_EXCL with the final mode, so no
    instant exists where the file is wider than configured."""
    calls: list[tuple[int, int]] = []
    real_open: Callable[..., int] = os.open

    def spy(path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        if flags & os.O_CREAT:
            calls.append((flags, mode))
        return real_open(path, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr(atomic.os, "open", spy)
    old = os.umask(0)
    try:
        replace_files([FileSpec(str(tmp_path / "key.pem"), b"k", 0o600)])
        (tmp_path / "d").mkdir()
        AtomicDir(str(tmp_path / "d")).publish({"key.pem": (b"k", 0o600), "c.pem": (b"c", 0o644)})
    finally:
        os.umask(old)
    assert [m for _, m in calls] == [0o600, 0o600, 0o644]
    assert all(f & os.O_EXCL and f & os.O_NOFOLLOW for f, _ in calls)


def test_staging_failure_leaves_every_visible_file_untouched(tmp_path: Path) -> None:
    (tmp_path / "key.pem").write_bytes(b"old key")
    specs = [
        FileSpec(str(tmp_path / "key.pem"), b"new key", 0o600),
        FileSpec(str(tmp_path / "missing" / "cert.pem"), b"new cert", 0o644),
    ]
    with pytest.raises(WriteError, match=r'cannot write ".*missing/cert.pem": No such file or directory'):
        replace_files(specs)
    assert (tmp_path / "key.pem").read_bytes() == b"old key"
    assert [p.name for p in tmp_path.iterdir()] == ["key.pem"]


def _gens(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.startswith("..2"))


def test_atomic_dir_layout(tmp_path: Path) -> None:
    adir = AtomicDir(str(tmp_path))
    gen = adir.publish({"svid.pem": (b"cert", 0o644), "svid_key.pem": (b"key", 0o600)})
    assert os.readlink(tmp_path / DATA_LINK) == gen
    for name in ("svid.pem", "svid_key.pem"):
        assert os.readlink(tmp_path / name) == f"..data/{name}"
        assert adir.is_linked(name)
    assert (tmp_path / "svid.pem").read_bytes() == b"cert"
    assert _mode(tmp_path / "svid_key.pem") == 0o600
    assert _mode(tmp_path / gen) == 0o755
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([DATA_LINK, gen, "svid.pem", "svid_key.pem"])


def test_atomic_dir_keeps_previous_generation_and_prunes_older(tmp_path: Path) -> None:
    adir = AtomicDir(str(tmp_path))
    g1 = adir.publish({"a": (b"1", 0o600)})
    g2 = adir.publish({"a": (b"2", 0o600)})
    assert _gens(tmp_path) == sorted([g1, g2])
    assert _mode(tmp_path / g2) == 0o700  # owner-only files: owner-only generation directory
    g3 = adir.publish({"a": (b"3", 0o600)})
    assert _gens(tmp_path) == sorted([g2, g3])
    assert (tmp_path / "a").read_bytes() == b"3"


def test_atomic_dir_removes_links_of_names_no_longer_written(tmp_path: Path) -> None:
    adir = AtomicDir(str(tmp_path))
    (tmp_path / "unrelated.txt").write_text("mine")
    adir.publish({"old.pem": (b"1", 0o644)})
    adir.publish({"new.pem": (b"2", 0o644)})
    assert not os.path.lexists(tmp_path / "old.pem")
    assert (tmp_path / "new.pem").read_bytes() == b"2"
    assert (tmp_path / "unrelated.txt").read_text() == "mine"


def test_atomic_dir_replaces_plain_files_from_an_older_layout(tmp_path: Path) -> None:
    (tmp_path / "svid.pem").write_bytes(b"plain")
    AtomicDir(str(tmp_path)).publish({"svid.pem": (b"linked", 0o644)})
    assert os.path.islink(tmp_path / "svid.pem")
    assert (tmp_path / "svid.pem").read_bytes() == b"linked"


def test_atomic_dir_refuses_to_replace_a_directory_and_changes_nothing(tmp_path: Path) -> None:
    adir = AtomicDir(str(tmp_path))
    adir.publish({"a.pem": (b"1", 0o644)})
    before = sorted(p.name for p in tmp_path.iterdir())
    (tmp_path / "b.pem").mkdir()
    with pytest.raises(WriteError, match="is a directory"):
        adir.publish({"a.pem": (b"2", 0o644), "b.pem": (b"x", 0o644)})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "b.pem"])
    assert (tmp_path / "a.pem").read_bytes() == b"1"


def test_recover_removes_crash_leftovers_but_not_current_or_previous(tmp_path: Path) -> None:
    adir = AtomicDir(str(tmp_path))
    gen = adir.publish({"a.pem": (b"1", 0o644)})
    for stale in ("..2020_01_01_00_00_00.000000001", "..2021_01_01_00_00_00.000000001", "..2999_01_01_00_00_00.1"):
        (tmp_path / stale).mkdir()
        (tmp_path / stale / "a.pem").write_bytes(b"partial")
    os.symlink("..2999_01_01_00_00_00.1", tmp_path / DATA_TMP)
    (tmp_path / "..tmp.abc.a.pem").write_bytes(b"half")
    (tmp_path / "..keep-me").write_bytes(b"not ours")
    removed = adir.recover()
    # The newest generation older than the current one is the "previous" a reader may still be using.
    expected = [DATA_TMP, "..2020_01_01_00_00_00.000000001", "..2999_01_01_00_00_00.1", "..tmp.abc.a.pem"]
    assert sorted(removed) == sorted(expected)
    remaining = [DATA_LINK, gen, "..2021_01_01_00_00_00.000000001", "a.pem", "..keep-me"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(remaining)
    assert (tmp_path / "a.pem").read_bytes() == b"1"


def test_generation_names_sort_chronologically(tmp_path: Path) -> None:
    adir = AtomicDir(str(tmp_path))
    names = [adir.publish({"a": (str(i).encode(), 0o600)}) for i in range(5)]
    assert names == sorted(names)
    assert len(set(names)) == 5


def test_read_file_follows_links_and_reports_mode(tmp_path: Path) -> None:
    AtomicDir(str(tmp_path)).publish({"k": (b"key", 0o600)})
    assert atomic.read_file(str(tmp_path / "k")) == (b"key", 0o600)
    assert atomic.read_file(str(tmp_path / "nope")) is None
    assert atomic.read_file(str(tmp_path)) is None
    assert not atomic.is_regular_file(str(tmp_path / "k"))
