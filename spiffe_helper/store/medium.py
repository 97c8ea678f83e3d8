"""Whether a path lives on a memory-backed file system (tmpfs, ramfs): there, writes never wait for a disk.

Credentials are usually written to memory (a Kubernetes ``emptyDir`` with ``medium: Memory``, as the
project's manifests do for keys). ``fsync`` is then a no-op that returns at once, so spreading the fsyncs
of an update over worker threads, and running the write off the event loop, only adds thread hand-overs to
the renew signal's path. The store still calls ``fsync`` there (it costs a microsecond); it just does so
inline.

The answer comes from ``/proc/self/mountinfo`` (the mount with the longest mount point containing the
path); anything unreadable or unknown counts as disk, the safe side.
"""

from __future__ import annotations

import os

__all__ = ["MEMORY_FS_TYPES", "memory_backed"]

MEMORY_FS_TYPES = frozenset({"tmpfs", "ramfs"})
MOUNTINFO = "/proc/self/mountinfo"


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash in paths as \040, \011, \012 and \134.
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def _mounts(text: str) -> list[tuple[str, str]]:
    """(mount point, file system type) of every well-formed mountinfo line."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields[6:]:
            continue
        sep = fields.index("-", 6)
        if len(fields) > sep + 1 and len(fields) > 4:
            mounts.append((_unescape(fields[4]), fields[sep + 1]))
    return mounts


def memory_backed(path: str, mountinfo: str | None = None) -> bool:
    """True when ``path`` (which need not exist yet) is on tmpfs or ramfs; False when unknown."""
    if mountinfo is None:
        try:
            with open(MOUNTINFO, encoding="utf-8", errors="surrogateescape") as f:
                mountinfo = f.read()
        except OSError:
            return False
    target = os.path.realpath(os.path.abspath(path))
    best, fs_type = -1, ""
    for point, kind in _mounts(mountinfo):
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) > best:  # later lines win ties: they are mounted over the earlier ones
            best, fs_type = len(point), kind
        elif inside and len(point) == best:
            fs_type = kind
    return fs_type in MEMORY_FS_TYPES
