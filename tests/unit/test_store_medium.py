"""Memory-backed output directories (spiffe_helper/store/medium.py): mountinfo by device, and this machine."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from spiffe_helper.store.medium import fs_type_of_device, memory_backed

MOUNTINFO = """\
22 1 252:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 22 0:25 / /dev/shm rw,nosuid,nodev shared:4 - tmpfs tmpfs rw
31 22 0:26 / /var/lib/kubelet/pods/x/volumes/kubernetes.io~empty-dir/certs rw - tmpfs tmpfs rw,size=1024k
32 22 0:27 / /run/with\\040space rw master:3 - ramfs none rw
33 30 252:0 /data /dev/shm/disk rw - ext4 /dev/vda rw
garbage line
"""


@pytest.mark.parametrize(
    ("device", "expected"),
    [("252:0", "ext4"), ("0:25", "tmpfs"), ("0:26", "tmpfs"), ("0:27", "ramfs"), ("9:9", None)],
)
def test_the_device_decides(device: str, expected: str | None) -> None:
    assert fs_type_of_device(device, MOUNTINFO) == expected


def _kind(path: str) -> str:
    return subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True, text=True, check=True).stdout.strip()


def test_this_machine_agrees_with_stat(tmp_path: Path) -> None:
    """/dev/shm (tmpfs here) and the test directory, and paths below them that do not exist yet."""
    paths = [str(tmp_path), str(tmp_path / "not" / "yet")]
    if os.path.isdir("/dev/shm"):
        paths += ["/dev/shm", "/dev/shm/not/yet"]
    for path in paths:
        existing = path
        while not os.path.exists(existing):
            existing = os.path.dirname(existing)
        assert memory_backed(path) is (_kind(existing) in ("tmpfs", "ramfs")), path


def test_a_symlink_into_tmpfs_counts_as_memory(tmp_path: Path) -> None:
    if not os.path.isdir("/dev/shm") or _kind("/dev/shm") != "tmpfs":
        pytest.skip("this machine has no tmpfs at /dev/shm")
    shm = tempfile.mkdtemp(dir="/dev/shm")
    try:
        (tmp_path / "certs").symlink_to(shm)
        assert memory_backed(str(tmp_path / "certs"))
        assert memory_backed(str(tmp_path / "certs" / "missing-subdir"))
        assert not memory_backed(str(tmp_path))
    finally:
        os.rmdir(shm)


def test_a_disk_mounted_over_a_parent_hides_the_tmpfs_below(tmp_path: Path) -> None:
    """In a private mount namespace: tmpfs at a/b, then a disk directory bind-mounted over a. The path a/b is
    on disk now, whatever the longest mount point in mountinfo says."""
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"unshare -m is not permitted here: {probe.stderr.decode().strip()}")
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "disk" / "b").mkdir(parents=True)
    code = "import sys; from spiffe_helper.store.medium import memory_backed; print(memory_backed(sys.argv[1]))"
    root = Path(__file__).resolve().parents[2]
    script = (
        f"mount -t tmpfs none {tmp_path}/a/b && python_ok=$({sys.executable} -c '{code}' {tmp_path}/a/b/certs) && "
        f"mount --bind {tmp_path}/disk {tmp_path}/a && echo $python_ok "
        f"$({sys.executable} -c '{code}' {tmp_path}/a/b/certs)"
    )
    out = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        cwd=root,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False"]
