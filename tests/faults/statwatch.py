"""A watcher process: polls ``stat`` on every key file in an output directory as fast as it can.

Usage: ``python statwatch.py DIR KEY_NAME STOP_FILE [MAX_SECONDS]``

Scans ``DIR`` and its hidden generation directories (``..2026_...``) for regular files named ``KEY_NAME``
or ending in ``.KEY_NAME`` (the helper's temporary names), and records every one whose mode grants
anything to group or others. Creates ``STOP_FILE.ready`` after its first pass, stops when ``STOP_FILE``
exists (or after ``MAX_SECONDS``, default 120) and prints one JSON object::

    {"scans": N, "key_stats": N, "key_files": N, "violations": [[name, "0644"], ...], "seconds": S}

``key_files`` counts the distinct key files seen, told apart by path, inode and ctime (inode numbers are
reused). Runs as its own process so it competes with the helper like any other reader would.
"""

from __future__ import annotations

import json
import os
import sys
import time


def scan(directory: str, key_name: str, instances: set[tuple[str, int, int]], violations: list[list[str]]) -> int:
    """One pass; returns how many key files were stat'ed."""
    seen = 0
    stack = [directory]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue  # a generation directory pruned under our feet
        for entry in entries:
            name = entry.name
            try:
                if name.startswith("..") and entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                    continue
                if name != key_name and not name.endswith("." + key_name):
                    continue
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue  # renamed or removed between listing and stat
            if (st.st_mode & 0o170000) != 0o100000:
                continue  # the user-visible symlink; its target is checked in the generation directory
            seen += 1
            instances.add((entry.path, st.st_ino, st.st_ctime_ns))  # inode numbers get reused
            if st.st_mode & 0o077:
                violations.append([os.path.relpath(entry.path, directory), f"{st.st_mode & 0o7777:04o}"])
    return seen


def main() -> int:
    directory, key_name, stop_file = sys.argv[1:4]
    limit = float(sys.argv[4]) if len(sys.argv) > 4 else 120.0
    start = time.monotonic()
    scans = key_stats = 0
    instances: set[tuple[str, int, int]] = set()
    violations: list[list[str]] = []
    while not os.path.exists(stop_file) and time.monotonic() - start < limit:
        key_stats += scan(directory, key_name, instances, violations)
        scans += 1
        if scans == 1:
            with open(stop_file + ".ready", "w"):
                pass
    result = {
        "scans": scans,
        "key_stats": key_stats,
        "key_files": len(instances),
        "violations": violations[:50],
        "seconds": round(time.monotonic() - start, 3),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
