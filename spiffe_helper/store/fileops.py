"""File primitives of the store: exclusive creation with the final mode, quiet cleanup, reading back.

Shared by :mod:`~spiffe_helper.store.atomic` (which re-exports the public names) and its two layouts; see
there for the rules they serve.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress

from spiffe_helper.errors import WriteError

TMP_PREFIX = "..tmp."
CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


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


def why(exc: OSError) -> str:
    """The OS reason for an error message ("No space left on device"), never a file name."""
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
        raise WriteError(f'cannot create directory "{path}": {why(exc)}') from None
    return True


@contextmanager
def open_dir(path: str) -> Iterator[int]:
    """A directory descriptor of ``path`` ("" is the working directory), closed on exit."""
    fd = os.open(path or ".", DIR_FLAGS)
    try:
        yield fd
    finally:
        os.close(fd)


def create_file(dir_fd: int, name: str, data: bytes, mode: int) -> int:
    """Create ``name`` exclusively with ``mode`` (never wider), write, set the exact mode; the open fd.

    The umask can only narrow the ``open`` mode, so the file is never wider than ``mode``, not even for an
    instant. Not yet durable: the caller fsyncs it (with the other files of the update, see
    :mod:`~spiffe_helper.store.durable`) and closes it. On failure the file is closed and removed.
    """
    fd = os.open(name, CREATE_FLAGS, mode & 0o777, dir_fd=dir_fd)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fchmod(fd, mode & 0o777)  # Go applies FileMode.Perm(): no setuid, setgid or sticky bit
    except BaseException:
        os.close(fd)
        unlink_quietly(dir_fd, name)
        raise
    return fd


def close_all(fds: Iterable[int]) -> None:
    """Close every descriptor, ignoring errors (cleanup paths)."""
    for fd in fds:
        with suppress(OSError):
            os.close(fd)


def unlink_quietly(dir_fd: int, name: str) -> None:
    """Remove ``name`` in ``dir_fd`` if it is there."""
    with suppress(OSError):
        os.unlink(name, dir_fd=dir_fd)


def refuse_directory(path: str) -> None:
    """Raise WriteError when ``path`` is a real directory: rename() cannot replace one, so find out before
    anything is staged or renamed."""
    if os.path.isdir(path) and not os.path.islink(path):
        raise WriteError(f'cannot replace "{path}": it is a directory')


def tmp_name(final: str) -> str:
    """A fresh temporary name for ``final``: ``..tmp.<random>.<final, cut to fit NAME_MAX>``."""
    # os.urandom, not secrets: same randomness, without importing secrets (hmac, base64, random) at start-up.
    return f"{TMP_PREFIX}{os.urandom(6).hex()}.{final[:200]}"


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
