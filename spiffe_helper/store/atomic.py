"""The only code that writes credential files: atomic, durable, never wider than the configured mode.

Every file is created fresh with ``O_CREAT|O_EXCL|O_NOFOLLOW`` and its final mode as the ``open`` mode: the
umask can only narrow that, so a key file is never readable by others, not even between ``open`` and
``fchmod``. ``fchmod`` then sets the exact mode on every write (Go only applies it at creation, so ``0444``
broke its second write), the data is fsynced, the file renamed into place and the directory fsynced.

Two layouts:

- :class:`AtomicDir` (``file_layout = "atomic_dir"``, the default): the Kubernetes AtomicWriter layout. All
  files of one update go into a fresh hidden directory ``..2026_11_22_10_00_00.123456789`` (UTC, sorts
  chronologically); one rename of a temporary symlink swaps ``..data`` to it; visible names are symlinks
  ``name -> ..data/name``. A reader sees every old file or every new file. The previous generation is kept
  until the next swap (a reader that resolved ``..data`` just before it still finds its files); older ones
  are removed by :meth:`AtomicDir.prune`, after the update is reported. Helpers sharing a directory are
  serialized by ``flock`` and keep each other's still-linked names in every new generation.
- :func:`replace_files` (``file_layout = "plain"``, and JWT files in both layouts): each file is staged as a
  temporary file first, and only when all are staged are they renamed in the given order. Disk-full and
  permission errors therefore hit before anything visible changes.

Names starting with ``..`` in an output directory are ours: ``..data``, ``..data_tmp``, ``..tmp.*`` and the
generation directories. :func:`remove_leftovers` / :meth:`AtomicDir.recover` delete what a crash left behind.
Errors are :class:`~spiffe_helper.errors.WriteError` whose text names the visible path and the OS reason but
never a random temporary name, so one cause always gives the same message.

Durability (what a crash or power loss can leave), per update:

- each new file is fsynced before anything refers to it: ``fsync`` of a directory only makes its *entries*
  durable, not the data of the files they name (with delayed allocation the blocks are not even allocated
  until writeback), so after a crash a fsynced directory could name empty or zero-filled files. ``syncfs``
  would cover the data, but it waits for every dirty page of the whole file system (other programs' writes:
  unbounded latency) and cannot say which file a writeback error belongs to;
- the generation directory is fsynced before the ``..data`` rename, so the new names inside it are durable
  before anything points at them (POSIX does not order metadata across directories; ext4's journal happens
  to, but we do not rely on it);
- the output directory is fsynced after the rename, which makes the swap itself durable: before success is
  reported when :meth:`AtomicDir.publish` prunes (one-shot runs), or first thing in the :meth:`AtomicDir.prune`
  that follows (the daemon, on a background thread). Readers see the new files from the rename on, and the
  renew signal needs nothing more, so it does not wait for that fsync; until it is done a crash can at worst
  bring back the previous generation, complete and consistent, which pruning never touches before the swap
  is durable. The first update, which creates the visible links, fsyncs the directory before returning.

So an update of N files costs N+2 fsyncs: files and generation directory concurrently
(:mod:`~spiffe_helper.store.durable`) before the swap, then the output directory. Removing generations needs
none (a lost unlink is harmless: the next prune or :meth:`AtomicDir.recover` finds the generation again).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import NamedTuple

from spiffe_helper.errors import WriteError
from spiffe_helper.store.durable import fsync_all
from spiffe_helper.store.fileops import (
    DIR_FLAGS,
    TMP_PREFIX,
    close_all,
    create_file,
    dir_mode_for,
    ensure_dir,
    is_regular_file,
    open_dir,
    read_file,
    refuse_directory,
    remove_leftovers,
    tmp_name,
    unlink_quietly,
    why,
)
from spiffe_helper.store.plain import replace_files  # the plain layout; re-exported

__all__ = [
    "DATA_LINK",
    "DATA_TMP",
    "TMP_PREFIX",
    "AtomicDir",
    "DirectoryBusy",
    "FileSpec",
    "dir_mode_for",
    "ensure_dir",
    "is_regular_file",
    "read_file",
    "remove_leftovers",
    "replace_files",
]

DATA_LINK = "..data"
DATA_TMP = "..data_tmp"
_GENERATION = re.compile(r"^\.\.\d{4}(?:_\d{2}){5}\.\d+$")

# One lock per output directory for all AtomicDir objects of this process (a prune on another thread never
# runs while a publish fills a generation), and the visible names this process has published there (a name
# we wrote before but not now was dropped from our config; any other still-linked one is another writer's).
_DIR_LOCKS: dict[str, threading.Lock] = {}
_DIR_LOCKS_GUARD = threading.Lock()
_published: dict[str, set[str]] = {}


def _lock_for(directory: str) -> threading.Lock:
    with _DIR_LOCKS_GUARD:
        return _DIR_LOCKS.setdefault(os.path.abspath(directory), threading.Lock())


class FileSpec(NamedTuple):  # not a frozen dataclass: those cost ~1 ms of start-up each
    """One file to write: its visible path, content and exact permission bits (``data`` never in a repr)."""

    path: str
    data: bytes
    mode: int

    def __repr__(self) -> str:
        return f"FileSpec(path={self.path!r}, mode=0o{self.mode:o})"


def _remove_generation(dfd: int, name: str) -> None:
    """Delete generation directory ``name`` (in ``dfd``); errors are ignored (a later prune retries).
    Unlink + rmdir; ``shutil.rmtree`` only for a directory someone else put something into."""
    try:
        gfd = os.open(name, DIR_FLAGS | os.O_NOFOLLOW, dir_fd=dfd)
    except OSError:
        return
    try:
        for entry in os.listdir(gfd):
            unlink_quietly(gfd, entry)
    except OSError:
        pass
    finally:
        os.close(gfd)
    try:
        os.rmdir(name, dir_fd=dfd)
    except OSError:
        import shutil

        shutil.rmtree(name, dir_fd=dfd, ignore_errors=True)


class DirectoryBusy(Exception):
    """Another thread or process holds the output directory's lock (see ``AtomicDir.publish(wait=False)``)."""


class AtomicDir:
    """The ``..data`` symlink layout in one directory; visible names are plain file names in it."""

    def __init__(self, directory: str, *, in_memory: bool = False) -> None:
        self.directory = directory or "."
        self.in_memory = in_memory  # on tmpfs/ramfs: fsyncs inline, not on threads (store.medium)
        self._lock = _lock_for(self.directory)
        # (generation, the one ..data pointed at before it) of this object's last publish: which generation
        # readers may still be using is then known exactly, not guessed from the names.
        self._last: tuple[str, str | None] | None = None

    def _path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    @contextmanager
    def _exclusive(self, wait: bool = True) -> Iterator[int]:
        """The directory's descriptor, locked against this process's other threads (the per-directory lock)
        and against other processes (``flock``): two helpers that share a ``cert_dir`` swap, prune and
        recover one at a time, so neither ever removes what the other has just published.

        ``wait=False`` raises :class:`DirectoryBusy` instead of waiting for either lock."""
        if not self._lock.acquire(blocking=wait):
            raise DirectoryBusy(self.directory)
        try:
            with open_dir(self.directory) as dfd:
                try:
                    fcntl.flock(dfd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))  # released on close
                except BlockingIOError:
                    raise DirectoryBusy(self.directory) from None
                yield dfd
        finally:
            self._lock.release()

    def _still_served(self, previous: str | None, files: Mapping[str, tuple[bytes, int]]) -> list[str]:
        """Names of the current generation that this update does not write but that are still visible
        through ``..data`` and that this process never wrote (another helper's outputs in a shared
        ``cert_dir``): the new generation keeps them, hard-linked, so a swap never leaves them dangling."""
        if previous is None:
            return []
        try:
            names = os.listdir(self._path(previous))
        except OSError:
            return []
        ours = _published.get(os.path.realpath(self.directory), set())
        return sorted(n for n in names if n not in files and n not in ours and self.is_linked(n))

    def current(self) -> str | None:
        """The generation directory ``..data`` points at, or None."""
        try:
            return os.readlink(self._path(DATA_LINK))
        except OSError:
            return None

    def is_linked(self, name: str) -> bool:
        """True when the visible ``name`` is our symlink into ``..data``."""
        try:
            return os.readlink(self._path(name)) == f"{DATA_LINK}/{name}"
        except OSError:
            return False

    def publish(self, files: Mapping[str, tuple[bytes, int]], *, prune: bool = True, wait: bool = True) -> str:
        """Write ``files`` (name -> (data, mode)) as a new generation and swap ``..data`` to it.

        Before the swap nothing visible changes; any error removes the new generation and raises
        WriteError. When this returns, readers see the new files. Returns the new generation's name.
        ``prune=True``: the swap is durable and old generations are removed before this returns.
        ``prune=False`` leaves both to :meth:`prune`, so the caller can report the update first (the renew
        signal then waits neither for the directory's fsync nor for the unlinks).
        ``wait=False``: raise :class:`DirectoryBusy`, having changed nothing, rather than wait for another
        thread or process that holds the directory (the daemon's event loop must never block on one).
        """
        for name in files:
            refuse_directory(self._path(name))
        try:
            with self._exclusive(wait) as dfd:
                previous = self.current()
                keep = self._still_served(previous, files)
                gen = self._new_generation(dfd, dir_mode_for(m for _, m in files.values()))
                try:
                    self._fill(dfd, gen, files, previous, keep)  # files and generation dir fsynced
                    unlink_quietly(dfd, DATA_TMP)
                    os.symlink(gen, DATA_TMP, dir_fd=dfd)
                    os.rename(DATA_TMP, DATA_LINK, src_dir_fd=dfd, dst_dir_fd=dfd)
                except BaseException:
                    unlink_quietly(dfd, DATA_TMP)
                    _remove_generation(dfd, gen)
                    raise
                self._last = (gen, previous)
                _published.setdefault(os.path.realpath(self.directory), set()).update(files)
                # From here the update is visible through ..data; the rest makes it durable and tidies up.
                linked = self._link_names(dfd, files)  # only the first update creates links
                if prune or linked:
                    os.fsync(dfd)  # the swap (and the new links) durable before success is reported
                if prune:
                    self._prune(dfd)
        except WriteError:
            raise
        except OSError as exc:
            raise WriteError(f'cannot write files in "{self.directory}": {why(exc)}') from None
        return gen

    def _new_generation(self, dfd: int, mode: int) -> str:
        # Names sort chronologically (recover() relies on it): UTC time, then nanoseconds within the second.
        ns = time.time_ns()
        for bump in range(1000):
            t = ns + bump
            stamp = dt.datetime.fromtimestamp(t // 10**9, dt.UTC).strftime("..%Y_%m_%d_%H_%M_%S")
            name = f"{stamp}.{t % 10**9:09d}"
            try:
                os.mkdir(name, mode, dir_fd=dfd)
            except FileExistsError:
                continue
            except OSError as exc:
                raise WriteError(f'cannot create a directory in "{self.directory}": {why(exc)}') from None
            os.chmod(name, mode, dir_fd=dfd)
            return name
        raise WriteError(f'cannot create a directory in "{self.directory}": no free name')

    def _fill(
        self, dfd: int, gen: str, files: Mapping[str, tuple[bytes, int]], previous: str | None, keep: Sequence[str]
    ) -> None:
        gfd = os.open(gen, DIR_FLAGS, dir_fd=dfd)
        created: list[tuple[str, int]] = []
        try:
            for name, (data, mode) in files.items():
                try:
                    created.append((name, create_file(gfd, name, data, mode)))
                except OSError as exc:
                    raise WriteError(f'cannot write "{self._path(name)}": {why(exc)}') from None
            if keep and previous is not None:
                self._link_kept(dfd, gfd, previous, keep)
            # Each file's data and the names inside the generation (module docstring), all durable before
            # ..data may point at the generation; fsynced together so the journal commits them at once.
            *file_errors, dir_error = fsync_all([fd for _, fd in created] + [gfd], concurrent=not self.in_memory)
            for (name, _), err in zip(created, file_errors, strict=True):
                if err is not None:
                    raise WriteError(f'cannot write "{self._path(name)}": {why(err)}')
            if dir_error is not None:
                raise dir_error
        finally:
            close_all(fd for _, fd in created)
            os.close(gfd)

    def _link_kept(self, dfd: int, gfd: int, previous: str, keep: Sequence[str]) -> None:
        """Hard-link the still-served files of ``previous`` into the new generation (same inode: same data,
        same mode, already durable); the generation directory's fsync then makes the new names durable."""
        pfd = os.open(previous, DIR_FLAGS, dir_fd=dfd)
        try:
            for name in keep:
                try:
                    os.link(name, name, src_dir_fd=pfd, dst_dir_fd=gfd, follow_symlinks=False)
                except FileNotFoundError:
                    continue  # gone meanwhile: nothing left to keep
                except OSError as exc:
                    raise WriteError(f'cannot keep "{self._path(name)}" in the new generation: {why(exc)}') from None
        finally:
            os.close(pfd)

    def _link_names(self, dfd: int, names: Iterable[str]) -> bool:
        """Point each visible name at ``..data/name``; True when any link was created."""
        created = False
        for name in names:
            if self.is_linked(name):
                continue
            tmp = tmp_name(name)
            os.symlink(f"{DATA_LINK}/{name}", tmp, dir_fd=dfd)
            try:
                os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
            except OSError:
                unlink_quietly(dfd, tmp)
                raise
            created = True
        return created

    def prune(self) -> None:
        """Remove generations no reader can be using any more, and links to names no longer written.

        First makes the last swap durable (``publish(prune=False)`` leaves that to this method): removing
        the generation the directory names on disk would otherwise be possible after a crash. Keeps the
        current generation and the one before it (a reader that resolved ``..data`` just before the last
        swap may still be reading it), and any generation newer than the current one (another writer's,
        still being filled). Safe to run on another thread: publishes in this directory wait.
        A failed directory fsync raises :class:`WriteError` and removes nothing (the swap may not be durable,
        so the generation the directory names on disk must stay). Other failures are ignored: a later prune,
        or :meth:`recover` at the next start, finds the same entries.
        """
        try:
            with self._exclusive() as dfd:
                try:
                    os.fsync(dfd)
                except OSError as exc:
                    raise WriteError(f'cannot sync directory "{self.directory}": {why(exc)}') from None
                self._prune(dfd)
        except OSError:
            pass

    def _prune(self, dfd: int) -> None:
        current = self.current()
        if current is None:
            return
        gens = sorted(e for e in os.listdir(dfd) if _GENERATION.match(e))
        if self._last is not None and self._last[0] == current:
            previous = self._last[1]
        else:  # another AtomicDir swapped last: the newest older name is the previous generation
            older = [g for g in gens if g < current]
            previous = older[-1] if older else None
        for entry in gens:
            # "Newer" by name also keeps everything if the clock stepped back (a leak, never a loss).
            if entry not in (current, previous) and entry < current:
                _remove_generation(dfd, entry)
        try:
            names = set(os.listdir(os.path.join(self.directory, current)))
        except OSError:
            return
        for entry in os.listdir(dfd):
            if entry not in names and not entry.startswith("..") and self.is_linked(entry):
                unlink_quietly(dfd, entry)  # a name no longer configured dangles after the swap

    def recover(self) -> list[str]:
        """Remove what a crash left: ``..data_tmp``, temporary links, and generations other than the current
        one and the one before it (a crash before the swap leaves a newer one, after it an older one)."""
        removed: list[str] = []
        try:
            with self._exclusive() as dfd:
                # Under the lock: another helper sharing the directory may be mid-publish.
                removed += remove_leftovers(self.directory)
                current = self.current()
                entries = os.listdir(dfd)
                gens = sorted(e for e in entries if _GENERATION.match(e))
                older = [g for g in gens if current is not None and g < current]
                keep = {current, older[-1] if older else None}
                for entry in entries:
                    if entry == DATA_TMP or (_GENERATION.match(entry) and entry not in keep):
                        if entry == DATA_TMP:
                            unlink_quietly(dfd, entry)
                        else:
                            _remove_generation(dfd, entry)
                        removed.append(entry)
        except OSError:
            pass
        return removed
