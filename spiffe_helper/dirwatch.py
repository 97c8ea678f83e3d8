"""Batches of filesystem activity in a few directories, from Linux inotify, on the event loop itself.

The daemon idles for days; this watcher costs nothing while nothing happens: the inotify descriptor sits in
the event loop's selector (``add_reader``), so there is no thread, no timer and no wake-up until the kernel
reports an event. Only the directories themselves are watched (not their subdirectories), with the events
that can change a file's content or what a name points to; reading a file (open, access, close) is not one
of them, so the owner may read what it watches without waking itself up.

After the first event of a batch, events are gathered until none arrives for ``quiet`` seconds or
``debounce`` seconds have passed since the first; then the batch is yielded. What happened is not reported:
the owner re-reads what it cares about.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import os
import struct
from collections.abc import AsyncGenerator, Iterable

# <sys/inotify.h>
_IN_MODIFY = 0x002
_IN_ATTRIB = 0x004
_IN_CLOSE_WRITE = 0x008
_IN_MOVED_FROM = 0x040
_IN_MOVED_TO = 0x080
_IN_CREATE = 0x100
_IN_DELETE = 0x200
_IN_DELETE_SELF = 0x400
_IN_MOVE_SELF = 0x800
_IN_IGNORED = 0x8000
_IN_ONLYDIR = 0x01000000
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC
WATCH_MASK = (
    _IN_MODIFY
    | _IN_ATTRIB
    | _IN_CLOSE_WRITE
    | _IN_MOVED_FROM
    | _IN_MOVED_TO
    | _IN_CREATE
    | _IN_DELETE
    | _IN_DELETE_SELF
    | _IN_MOVE_SELF
    | _IN_ONLYDIR
)
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len (then len bytes of NUL-padded name)


def _libc() -> ctypes.CDLL:
    # The interpreter's own symbols include libc's (no ctypes.util.find_library: it runs `ldconfig -p`).
    libc = ctypes.CDLL(None, use_errno=True)
    libc.inotify_init1.argtypes = [ctypes.c_int]
    libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
    return libc


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


class DirWatch:
    """An inotify instance watching a set of directories; :meth:`batches` yields once per burst of events.

    Raises :class:`OSError` when inotify is not available (another OS, the per-user instance limit); the
    caller then needs another way to watch. Close it (or use it as a context manager) to free the descriptor.
    """

    def __init__(self) -> None:
        try:
            self._libc = _libc()
        except (OSError, AttributeError) as err:  # no libc symbols, or a libc without inotify
            raise OSError(errno.ENOSYS, f"inotify unavailable: {err}") from None
        self._fd = _check(self._libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC), "inotify_init1")
        self._wds: dict[str, int] = {}  # watched directory -> watch descriptor
        self._activity = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop whose selector holds the descriptor

    def __enter__(self) -> DirWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def dirs(self) -> list[str]:
        """The directories watched right now."""
        return list(self._wds)

    def watch(self, dirs: Iterable[str]) -> None:
        """Watch exactly ``dirs`` from now on. A directory that cannot be watched (gone, no permission) is
        skipped while another one is watched; :class:`OSError` when none can be."""
        wanted = list(dict.fromkeys(dirs))
        for d in [d for d in self._wds if d not in wanted]:
            wd = self._wds.pop(d)
            if wd not in self._wds.values():  # another name for the same directory keeps the watch
                self._libc.inotify_rm_watch(self._fd, wd)  # EINVAL if the kernel dropped it already: fine
        failure: OSError | None = None
        for d in wanted:
            if d in self._wds:
                continue
            wd = self._libc.inotify_add_watch(self._fd, os.fsencode(d), WATCH_MASK)
            if wd < 0:
                err = ctypes.get_errno()
                failure = OSError(err, f"inotify_add_watch {d}: {os.strerror(err)}")
                continue
            # One inotify watch per inode: the same directory under two names shares a descriptor.
            self._wds[d] = wd
        if not self._wds and failure is not None:
            raise failure

    async def batches(self, *, debounce: float, quiet: float = 0.05) -> AsyncGenerator[None, None]:
        """Yield once per burst of events (see the module docstring); runs until cancelled."""
        loop = asyncio.get_running_loop()
        activity = self._activity
        loop.add_reader(self._fd, self._drain)
        self._loop = loop
        try:
            while True:
                await activity.wait()  # idle: no wake-up until the kernel has an event
                activity.clear()
                end = loop.time() + debounce
                while (left := end - loop.time()) > 0:
                    try:
                        async with asyncio.timeout(min(quiet, left)):
                            await activity.wait()
                    except TimeoutError:
                        break  # quiet for `quiet` seconds: the burst is over
                    activity.clear()
                yield
        finally:
            self._unregister()

    def _unregister(self) -> None:
        if self._loop is not None:
            if not self._loop.is_closed():
                self._loop.remove_reader(self._fd)
            self._loop = None

    def _drain(self) -> None:
        """Read every pending event (the selector said the descriptor is readable)."""
        while True:
            try:
                buf = os.read(self._fd, 64 * 1024)
            except BlockingIOError:
                return
            except OSError:
                return  # closed under us: the owner is shutting down
            if not buf:
                return
            gone = set()
            for offset in _offsets(buf):
                wd, mask, _cookie, _size = _EVENT.unpack_from(buf, offset)
                if mask & _IN_IGNORED:  # the watch ended (directory deleted, or we removed it)
                    gone.add(wd)
                if mask & ~_IN_IGNORED:  # only the end of a watch we removed ourselves is not activity
                    self._activity.set()
            if gone:
                self._wds = {d: wd for d, wd in self._wds.items() if wd not in gone}

    def close(self) -> None:
        """Free the inotify descriptor (every watch goes with it)."""
        if self._fd >= 0:
            # Out of the selector first: a closed descriptor left there would clash with the next file or
            # socket that gets its number.
            self._unregister()
            os.close(self._fd)
            self._fd = -1
            self._wds.clear()


def _offsets(buf: bytes) -> Iterable[int]:
    """Where each ``struct inotify_event`` in ``buf`` starts."""
    offset = 0
    while offset + _EVENT.size <= len(buf):
        yield offset
        offset += _EVENT.size + _EVENT.unpack_from(buf, offset)[3]
