"""Key files are never readable by group or others, not for an instant, even under umask 000.

A separate watcher process (statwatch.py) polls ``stat`` on every key file in the output directory,
including the hidden generation directories and temporary names, while the dev agent rotates the SVID
hundreds of times and the real helper, started with umask 000, writes each one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spiffe_helper.devagent import DevAgentThread
from tests.faults.harness import HelperProcess, eventually, wait_changed, write_conf

SPIFFE_ID = "spiffe://faults.example/workload/umask"
WATCHER = str(Path(__file__).resolve().parent / "statwatch.py")
KEY = "svid_key.pem"


class Watcher:
    """The statwatch.py process on ``directory``."""

    def __init__(self, directory: Path, scratch: Path) -> None:
        self.stop_file = scratch / "watcher.stop"
        self.proc = subprocess.Popen(
            [sys.executable, WATCHER, str(directory), KEY, str(self.stop_file), "100"],
            stdout=subprocess.PIPE,
            text=True,
        )
        eventually(lambda: Path(str(self.stop_file) + ".ready").exists(), 30, what="watcher started")

    def finish(self) -> dict[str, object]:
        """Stop the watcher and return its report."""
        self.stop_file.touch()
        out, _ = self.proc.communicate(timeout=30)
        report: dict[str, object] = json.loads(out)
        return report


def test_the_watcher_sees_a_short_window(sock_dir: Path) -> None:
    """The watcher itself: a key file readable by others for 20 ms is caught."""
    out = sock_dir / "out"
    out.mkdir()
    watcher = Watcher(out, sock_dir)
    for i in range(5):
        fd = os.open(out / f"..tmp.{i:012x}.{KEY}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.fchmod(fd, 0o644)
        time.sleep(0.02)
        os.fchmod(fd, 0o600)
        os.close(fd)
    report = watcher.finish()
    assert report["violations"], report


def generation(files: list[Path]) -> tuple[int, ...]:
    """Changes whenever the helper publishes new files (new inodes behind the names)."""
    try:
        return tuple(p.stat().st_ino for p in files)
    except FileNotFoundError:
        return ()


@pytest.mark.parametrize(("layout", "rotations"), [("atomic_dir", 500), ("plain", 100)])
def test_key_never_readable_by_others_under_umask_000(sock_dir: Path, layout: str, rotations: int) -> None:
    out = sock_dir / "out"
    files = [out / "svid.pem", out / KEY, out / "svid_bundle.pem"]
    with DevAgentThread(sock_dir, {"w": [SPIFFE_ID]}, x509_ttl="1h") as agent:
        conf = write_conf(
            sock_dir / "helper.conf",
            {
                "agent_address": agent.address("w"),
                "cert_dir": str(out),
                "svid_file_name": "svid.pem",
                "svid_key_file_name": KEY,
                "svid_bundle_file_name": "svid_bundle.pem",
                "file_layout": layout,
            },
        )
        watcher = Watcher(out, sock_dir)  # before the helper: the very first write is watched too
        with HelperProcess(conf, umask=0o000) as helper:
            current = eventually(lambda: generation(files), 30, what="first write")
            deadline = time.monotonic() + 60
            for i in range(rotations):
                before = current
                agent.rotate_now("w")
                try:
                    current = wait_changed(lambda: generation(files), before, 30, what="rotation")
                except AssertionError as exc:
                    raise AssertionError(f"rotation {i}: {exc}; helper log tail:\n{helper.output()[-3000:]}") from None
                assert time.monotonic() < deadline, "rotations too slow"
            report = watcher.finish()
            helper.assert_clean_log()
            modes = {p.name: p.stat().st_mode & 0o777 for p in files}
    assert report["violations"] == [], report
    # The watcher really looked: it saw the key of most generations (each lives until the next-but-one swap).
    assert isinstance(report["key_files"], int) and report["key_files"] >= rotations // 2, report
    assert modes == {"svid.pem": 0o644, KEY: 0o600, "svid_bundle.pem": 0o644}
    print(f"\n{layout}: {rotations} rotations, watcher report {report}")
