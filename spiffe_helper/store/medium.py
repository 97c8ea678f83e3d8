"""Whether a path lives on a memory-backed file system (tmpfs, ramfs): there, writes never wait for a disk.

Credentials are usually written to memory (a Kubernetes ``emptyDir`` with ``medium: Memory``, as the
project's manifests do for keys). ``fsync`` is then a no-op that returns at once, so spreading the fsyncs
of an update over worker threads, and running the write off the event loop, only adds thread hand-overs to
the renew signal's path. The store still calls ``fsync`` there (it costs a microsecond); it just does so
inline.

The file system is the one holding the path's nearest existing directory (``stat``'s device), looked up by
device number in ``/proc/self/mountinfo``: bind mounts, mounts over a parent and symlinks all resolve as the
kernel resolves them. Anything unreadable or unknown counts as disk, the safe side.
"""

from __future__ import annotations

import os

__all__ = ["MEMORY_FS_TYPES", "fs_type_of_device", "memory_backed"]

MEMORY_FS_TYPES = frozenset({"tmpfs", "ramfs"})
MOUNTINFO = "/proc/self/mountinfo"


def fs_type_of_device(device: str, mountinfo: str) -> str | None:
    """The file system type of the mount whose ``major:minor`` is ``device``, from mountinfo's text."""
    for line in mountinfo.splitlines():
        fields = line.split()
        # mount ID, parent ID, major:minor, root, mount point, options, optional fields..., "-", type, ...
        if len(fields) > 2 and fields[2] == device and "-" in fields[6:]:
            sep = fields.index("-", 6)
            if len(fields) > sep + 1:
                return fields[sep + 1]
    return None


def memory_backed(path: str) -> bool:
    """True when ``path`` (which need not exist yet) is on tmpfs or ramfs; False when unknown."""
    target = os.path.abspath(path)
    while True:
        try:
            st = os.stat(target)
            break
        except OSError:
            parent = os.path.dirname(target)
            if parent == target:
                return False
            target = parent
    try:
        with open(MOUNTINFO, encoding="utf-8", errors="surrogateescape") as f:
            mountinfo = f.read()
    except OSError:
        return False
    kind = fs_type_of_device(f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}", mountinfo)
    return kind in MEMORY_FS_TYPES
