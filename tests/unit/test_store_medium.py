"""Memory-backed output directories (spiffe_helper/store/medium.py), from a real and from a written mountinfo."""

from __future__ import annotations

import os
import subprocess

import pytest

from spiffe_helper.store.medium import memory_backed

MOUNTINFO = """\
22 1 252:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 22 0:25 / /dev/shm rw,nosuid,nodev shared:4 - tmpfs tmpfs rw
31 22 0:26 / /var/lib/kubelet/pods/x/volumes/kubernetes.io~empty-dir/certs rw - tmpfs tmpfs rw,size=1024k
32 22 0:27 / /run/with\\040space rw master:3 - ramfs none rw
33 30 252:0 /data /dev/shm/disk rw - ext4 /dev/vda rw
34 22 0:28 / /tmp rw - ext4 /dev/vdb rw
35 22 0:29 / /tmp rw - tmpfs tmpfs rw
"""


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", False),
        ("/etc/certs", False),
        ("/dev/shm", True),
        ("/dev/shm/certs/deeper", True),
        ("/dev/shmother", False),  # a prefix of the name, not of the path
        ("/var/lib/kubelet/pods/x/volumes/kubernetes.io~empty-dir/certs/svid.pem", True),
        ("/run/with space/x", True),
        ("/dev/shm/disk/certs", False),  # a disk mounted inside the tmpfs
        ("/tmp/x", True),  # the later of two mounts on one point is the visible one
    ],
)
def test_longest_mount_point_decides(path: str, expected: bool) -> None:
    assert memory_backed(path, MOUNTINFO) is expected


def test_garbage_and_unreadable_mountinfo_count_as_disk() -> None:
    assert memory_backed("/dev/shm", "nonsense\n1 2 3\n") is False
    assert memory_backed("/dev/shm", "") is False


def test_this_machine() -> None:
    """Against the real /proc/self/mountinfo: agrees with df's file system type for two directories."""
    for path in ("/dev/shm", "/tmp"):
        if not os.path.isdir(path):
            continue
        kind = subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True, text=True).stdout.strip()
        assert memory_backed(path) is (kind in ("tmpfs", "ramfs")), (path, kind)
