"""Two helpers sharing one ``cert_dir`` in the ``..data`` layout never remove each other's files.

Each writer swaps the one ``..data`` link; names it does not write but that are still visible through
``..data`` are kept in its new generation (hard links), and ``flock`` serializes writers across processes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from spiffe_helper.store.atomic import AtomicDir

WRITER = """
import sys
from spiffe_helper.store.atomic import AtomicDir
directory, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
adir = AtomicDir(directory)
for i in range(count):
    data = f"{prefix}{i}".encode()
    adir.publish({prefix + "cert.pem": (data, 0o644), prefix + "key.pem": (data, 0o600)})
"""


def _files(prefix: str, content: str) -> dict[str, tuple[bytes, int]]:
    return {f"{prefix}cert.pem": (content.encode(), 0o644), f"{prefix}key.pem": (content.encode(), 0o600)}


def _write(directory: Path, prefix: str, count: int) -> subprocess.Popen[bytes]:
    """Another helper process: publishes ``count`` updates of its own two files into ``directory``."""
    return subprocess.Popen([sys.executable, "-c", WRITER, str(directory), prefix, str(count)], stderr=subprocess.PIPE)


def _finish(proc: subprocess.Popen[bytes]) -> None:
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()


def test_a_second_helper_keeps_the_first_helpers_files(tmp_path: Path) -> None:
    _finish(_write(tmp_path, "a_", 1))
    _finish(_write(tmp_path, "b_", 1))
    assert (tmp_path / "a_cert.pem").read_text() == "a_0"
    assert (tmp_path / "a_key.pem").read_text() == "a_0"
    assert (tmp_path / "b_cert.pem").read_text() == "b_0"
    assert (tmp_path / "a_key.pem").stat().st_mode & 0o777 == 0o600  # the kept key keeps its mode
    _finish(_write(tmp_path, "a_", 3))
    AtomicDir(str(tmp_path)).prune()
    assert (tmp_path / "a_cert.pem").read_text() == "a_2"
    assert (tmp_path / "b_cert.pem").read_text() == "b_0"
    assert (tmp_path / "b_key.pem").read_text() == "b_0"


def test_a_name_this_process_stopped_writing_is_dropped(tmp_path: Path) -> None:
    adir = AtomicDir(str(tmp_path))
    adir.publish({**_files("a_", "1"), "renamed.pem": (b"old", 0o644)})
    adir.publish(_files("a_", "2"))  # e.g. a hot reload renamed an output: the old name is ours, it goes
    adir.prune()
    assert not os.path.lexists(tmp_path / "renamed.pem")


def test_a_name_that_is_no_longer_linked_is_not_kept(tmp_path: Path) -> None:
    adir = AtomicDir(str(tmp_path))
    adir.publish({**_files("a_", "1"), "old.pem": (b"old", 0o644)})
    os.unlink(tmp_path / "old.pem")  # the user removed the visible name: nothing serves it any more
    adir.publish(_files("a_", "2"))
    assert "old.pem" not in os.listdir(tmp_path / "..data")


def test_two_processes_publishing_at_once_lose_nothing(tmp_path: Path) -> None:
    count = 40
    procs = [_write(tmp_path, prefix, count) for prefix in ("a_", "b_")]
    for proc in procs:
        _finish(proc)
    for prefix in ("a_", "b_"):
        for kind in ("cert", "key"):
            # Every visible name resolves, and to its writer's last content.
            assert (tmp_path / f"{prefix}{kind}.pem").read_text() == f"{prefix}{count - 1}"
