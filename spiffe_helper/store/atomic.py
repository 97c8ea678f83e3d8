"""The only code that writes credential files: atomic, durable, never wider than the configured mode.

Every file is created fresh with ``O_CREAT|O_EXCL|O_NOFOLLOW`` and its final mode as the ``open`` mode: the
umask can only narrow that, so a key file is never readable by others, not even between ``open`` and
``fchmod``. ``fchmod`` then sets the exact mode on every write (Go only applies it at creation, so ``0444``
broke its second write), the data is fsynced, the file renamed into place and the directory fsynced.

Two layouts:

- :class:`AtomicDir` (``file_layout = "atomic_dir"``, the default): the Kubernetes AtomicWriter layout. All
  files of one update go into a fresh hidden directory ``..2026_11_22_10_00_00.123456789`` (UTC time and
  nanoseconds, so names sort chronologically); one rename of a
  temporary symlink swaps ``..data`` to it; the user-visible names are symlinks ``name -> ..data/name``. A
  reader therefore sees either every old file or every new file. The generation before the current one is
  kept until the next swap, so a reader that resolved ``..data`` just before a swap still finds its files;
  older generations are removed after each swap.
- :func:`replace_files` (``file_layout = "plain"``, and JWT files in both layouts): each file is staged as a
  temporary file first, and only when all are staged are they renamed in the given order. Disk-full and
  permission errors therefore hit before anything visible changes.

Names starting with ``..`` in an output directory are ours: ``..data``, ``..data_tmp``, ``..tmp.*`` and the
generation directories. :func:`remove_leftovers` / :meth:`AtomicDir.recover` delete what a crash left behind.
Errors are :class:`~spiffe_helper.errors.WriteError` whose text names the visible path and the OS reason but
never a random temporary name, so one cause always gives the same message.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import shutil
import stat
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

from spiffe_helper.errors import WriteError

DATA_LINK = "..data"
DATA_TMP = "..data_tmp"
TMP_PREFIX = "..tmp."
_GENERATION = re.compile(r"^\.\.\d{4}(?:_\d{2}){5}\.\d+$")
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


@dataclass(frozen=True)
class FileSpec:
    """One file to write: its visible path, content and exact permission bits."""

    path: str
    data: bytes = field(repr=False)
    mode: int


def dir_mode_for(modes: Iterable[int]) -> int:
    """A directory mode that lets exactly the classes the files admit reach them.

    ``0700`` when every file is owner-only (a directory of keys), plus ``r-x`` for group and/or other when
    any file grants that class anything: ``0644`` files give ``0755``, a ``0640`` key gives ``0750``.
    """
    mode = 0o700
    for m in modes:
        if m & 0o070:
            mode |= 0o050
        if m & 0o007:
            mode |= 0o005
    return mode


def _why(exc: OSError) -> str:
    return exc.strerror or exc.__class__.__name__


def ensure_dir(path: str, mode: int) -> bool:
    """Create ``path`` if missing: parents ``0755``, the directory itself exactly ``mode``. True if created."""
    if os.path.isdir(path):
        return False
    parent = os.path.dirname(path.rstrip("/"))
    try:
        if parent:
            os.makedirs(parent, mode=0o755, exist_ok=True)
        os.mkdir(path, mode)  # umask narrows it; chmod makes it exact
        os.chmod(path, mode)
    except FileExistsError:
        return False
    except OSError as exc:
        raise WriteError(f'cannot create directory "{path}": {_why(exc)}') from None
    return True


@contextmanager
def _open_dir(path: str) -> Iterator[int]:
    fd = os.open(path or ".", _DIR)
    try:
        yield fd
    finally:
        os.close(fd)


def _write_new(dir_fd: int, name: str, data: bytes, mode: int) -> None:
    """Create ``name`` exclusively with ``mode`` (never wider), write, set the exact mode, fsync."""
    fd = os.open(name, _CREATE, mode & 0o777, dir_fd=dir_fd)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fchmod(fd, mode)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink_quietly(dir_fd, name)
        raise
    os.close(fd)


def _unlink_quietly(dir_fd: int, name: str) -> None:
    with suppress(OSError):
        os.unlink(name, dir_fd=dir_fd)


def _refuse_directory(path: str) -> None:
    # rename() cannot replace a directory: find out before anything is staged or renamed.
    if os.path.isdir(path) and not os.path.islink(path):
        raise WriteError(f'cannot replace "{path}": it is a directory')


def _tmp_name(final: str) -> str:
    # Bounded so that long names still fit NAME_MAX (255) with the prefix and random part.
    return f"{TMP_PREFIX}{secrets.token_hex(6)}.{final[:200]}"


def replace_files(specs: Sequence[FileSpec]) -> None:
    """Per-file atomic replacement: stage every file, then rename them in order, then fsync the directories.

    A failure while staging (disk full, permissions, read-only) removes the staged files and leaves every
    visible file as it was.
    """
    for spec in specs:
        _refuse_directory(spec.path)
    staged: list[tuple[int, str, FileSpec]] = []
    dir_fds: dict[str, int] = {}
    try:
        for spec in specs:
            parent = os.path.dirname(spec.path) or "."
            try:
                if parent not in dir_fds:
                    dir_fds[parent] = os.open(parent, _DIR)
                tmp = _tmp_name(os.path.basename(spec.path))
                _write_new(dir_fds[parent], tmp, spec.data, spec.mode)
            except OSError as exc:
                raise WriteError(f'cannot write "{spec.path}": {_why(exc)}') from None
            staged.append((dir_fds[parent], tmp, spec))
        while staged:
            dfd, tmp, spec = staged[0]
            try:
                os.rename(tmp, os.path.basename(spec.path), src_dir_fd=dfd, dst_dir_fd=dfd)
            except OSError as exc:
                raise WriteError(f'cannot replace "{spec.path}": {_why(exc)}') from None
            staged.pop(0)
        for parent, dfd in dir_fds.items():
            try:
                os.fsync(dfd)
            except OSError as exc:
                raise WriteError(f'cannot sync directory "{parent}": {_why(exc)}') from None
    finally:
        for dfd, tmp, _ in staged:
            _unlink_quietly(dfd, tmp)
        for dfd in dir_fds.values():
            os.close(dfd)


def remove_leftovers(directory: str) -> list[str]:
    """Delete our temporary files (``..tmp.*``) left in ``directory`` by a crash; returns their names."""
    removed: list[str] = []
    try:
        entries = os.listdir(directory or ".")
    except OSError:
        return removed
    for name in entries:
        if name.startswith(TMP_PREFIX):
            try:
                os.unlink(os.path.join(directory, name))
                removed.append(name)
            except OSError:
                pass
    return removed


def read_file(path: str) -> tuple[bytes, int] | None:
    """Content and permission bits of ``path`` (symlinks followed); None when it cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks), stat.S_IMODE(st.st_mode)
    except OSError:
        return None
    finally:
        os.close(fd)


def is_regular_file(path: str) -> bool:
    """True when ``path`` itself (not a symlink target) is a regular file."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


class AtomicDir:
    """The ``..data`` symlink layout in one directory; visible names are plain file names in it."""

    def __init__(self, directory: str) -> None:
        self.directory = directory or "."

    def _path(self, name: str) -> str:
        return os.path.join(self.directory, name)

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

    def publish(self, files: Mapping[str, tuple[bytes, int]]) -> str:
        """Write ``files`` (name -> (data, mode)) as a new generation and swap ``..data`` to it.

        Before the swap nothing visible changes; any error removes the new generation and raises
        WriteError. Returns the new generation's name.
        """
        for name in files:
            _refuse_directory(self._path(name))
        try:
            with _open_dir(self.directory) as dfd:
                previous = self.current()
                gen = self._new_generation(dfd, dir_mode_for(m for _, m in files.values()))
                try:
                    self._fill(dfd, gen, files)
                    _unlink_quietly(dfd, DATA_TMP)
                    os.symlink(gen, DATA_TMP, dir_fd=dfd)
                    os.rename(DATA_TMP, DATA_LINK, src_dir_fd=dfd, dst_dir_fd=dfd)
                except BaseException:
                    _unlink_quietly(dfd, DATA_TMP)
                    shutil.rmtree(gen, dir_fd=dfd, ignore_errors=True)
                    raise
                os.fsync(dfd)
                # From here the update is visible through ..data; links and pruning only tidy up.
                self._link_names(dfd, files)
                os.fsync(dfd)
                self._prune(dfd, keep={gen, previous}, names=set(files))
        except WriteError:
            raise
        except OSError as exc:
            raise WriteError(f'cannot write files in "{self.directory}": {_why(exc)}') from None
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
                raise WriteError(f'cannot create a directory in "{self.directory}": {_why(exc)}') from None
            os.chmod(name, mode, dir_fd=dfd)
            return name
        raise WriteError(f'cannot create a directory in "{self.directory}": no free name')

    def _fill(self, dfd: int, gen: str, files: Mapping[str, tuple[bytes, int]]) -> None:
        gfd = os.open(gen, _DIR, dir_fd=dfd)
        try:
            for name, (data, mode) in files.items():
                try:
                    _write_new(gfd, name, data, mode)
                except OSError as exc:
                    raise WriteError(f'cannot write "{self._path(name)}": {_why(exc)}') from None
            os.fsync(gfd)
        finally:
            os.close(gfd)

    def _link_names(self, dfd: int, names: Iterable[str]) -> None:
        for name in names:
            if self.is_linked(name):
                continue
            tmp = _tmp_name(name)
            os.symlink(f"{DATA_LINK}/{name}", tmp, dir_fd=dfd)
            try:
                os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
            except OSError:
                _unlink_quietly(dfd, tmp)
                raise

    def _prune(self, dfd: int, keep: set[str | None], names: set[str]) -> None:
        for entry in os.listdir(dfd):
            if _GENERATION.match(entry) and entry not in keep:
                shutil.rmtree(entry, dir_fd=dfd, ignore_errors=True)
            elif entry not in names and self.is_linked(entry):
                _unlink_quietly(dfd, entry)  # a name no longer configured would dangle after pruning

    def recover(self) -> list[str]:
        """Remove what a crash left: ``..data_tmp``, temporary links, and generations other than the current
        one and the one before it (a crash before the swap leaves a newer one, after it an older one)."""
        removed = remove_leftovers(self.directory)
        current = self.current()
        try:
            with _open_dir(self.directory) as dfd:
                entries = os.listdir(dfd)
                gens = sorted(e for e in entries if _GENERATION.match(e))
                older = [g for g in gens if current is not None and g < current]
                keep = {current, older[-1] if older else None}
                for entry in entries:
                    if entry == DATA_TMP or (_GENERATION.match(entry) and entry not in keep):
                        if entry == DATA_TMP:
                            _unlink_quietly(dfd, entry)
                        else:
                            shutil.rmtree(entry, dir_fd=dfd, ignore_errors=True)
                        removed.append(entry)
        except OSError:
            pass
        return removed
