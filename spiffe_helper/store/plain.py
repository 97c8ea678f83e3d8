"""The ``plain`` layout (and JWT files in both layouts): per-file atomic replacement of regular files.

Each file is staged as a temporary file first (created with its final mode, fsynced); only when all are
staged are they renamed, in the given order, and their directories fsynced. Disk-full and permission errors
therefore hit before anything visible changes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from spiffe_helper.errors import WriteError
from spiffe_helper.store.durable import fsync_all
from spiffe_helper.store.fileops import (
    DIR_FLAGS,
    close_all,
    create_file,
    refuse_directory,
    tmp_name,
    unlink_quietly,
    why,
)

if TYPE_CHECKING:
    from spiffe_helper.store.atomic import FileSpec


def replace_files(specs: Sequence[FileSpec], *, in_memory: bool = False) -> None:
    """Per-file atomic replacement: stage every file, then rename them in order, then fsync the directories.

    A failure while staging (disk full, permissions, read-only) removes the staged files and leaves every
    visible file as it was. ``in_memory``: the files are on tmpfs/ramfs, so the fsyncs run inline.
    """
    for spec in specs:
        refuse_directory(spec.path)
    staged: list[tuple[int, str, FileSpec]] = []
    file_fds: list[int] = []
    dir_fds: dict[str, int] = {}
    try:
        for spec in specs:
            parent = os.path.dirname(spec.path) or "."
            try:
                if parent not in dir_fds:
                    dir_fds[parent] = os.open(parent, DIR_FLAGS)
                tmp = tmp_name(os.path.basename(spec.path))
                file_fds.append(create_file(dir_fds[parent], tmp, spec.data, spec.mode))
            except OSError as exc:
                raise WriteError(f'cannot write "{spec.path}": {why(exc)}') from None
            staged.append((dir_fds[parent], tmp, spec))
        # Every staged file durable before any rename makes it visible (fsynced together: see durable.py).
        for (_, _, spec), err in zip(staged, fsync_all(file_fds, concurrent=not in_memory), strict=True):
            if err is not None:
                raise WriteError(f'cannot write "{spec.path}": {why(err)}')
        close_all(file_fds)
        file_fds.clear()
        while staged:
            dfd, tmp, spec = staged[0]
            try:
                os.rename(tmp, os.path.basename(spec.path), src_dir_fd=dfd, dst_dir_fd=dfd)
            except OSError as exc:
                raise WriteError(f'cannot replace "{spec.path}": {why(exc)}') from None
            staged.pop(0)
        # The renames durable before success is reported.
        for parent, err in zip(dir_fds, fsync_all(list(dir_fds.values()), concurrent=not in_memory), strict=True):
            if err is not None:
                raise WriteError(f'cannot sync directory "{parent}": {why(err)}')
    finally:
        close_all(file_fds)
        for dfd, tmp, _ in staged:
            unlink_quietly(dfd, tmp)
        for dfd in dir_fds.values():
            os.close(dfd)
