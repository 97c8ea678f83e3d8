"""Disk full and a read-only cert_dir under the running helper: old files intact, run goes on, one error line.

Both use a real tmpfs (``mount -t tmpfs -o size=64k``; read-only by ``remount,ro``), which needs root and
CAP_SYS_ADMIN; without them the tests skip and say why.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from spiffe_helper.devagent import DevAgentThread
from tests.integration.test_app_harness import Helper, check_pair

NAMES = ("svid.pem", "key.pem", "bundle.pem")
DUMP_ERROR = 'level=error msg="Unable to dump bundle"'


def _mount(*args: str) -> str | None:
    out = subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)
    return None if out.returncode == 0 else (out.stderr.strip() or f"mount exited {out.returncode}")


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs, unmounted afterwards."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    why = _mount("-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(mnt))
    if why is not None:
        pytest.skip(f"cannot mount a tmpfs here: {why}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=30)


def _cfg(sock: Path, certs: Path) -> dict[str, object]:
    return {
        "agent_address": str(sock),
        "cert_dir": str(certs),
        "svid_file_name": "svid.pem",
        "svid_key_file_name": "key.pem",
        "svid_bundle_file_name": "bundle.pem",
        "log_level": "debug",  # repeats of a logged cause go to debug: lets the test see every failure
    }


def _snapshot(d: Path) -> dict[str, bytes]:
    return {n: (d / n).read_bytes() for n in NAMES}


def _fill(d: Path) -> Path:
    filler = d / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 1024)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def _no_leftovers(d: Path) -> None:
    names = [p.name for p in d.iterdir()]
    assert not [n for n in names if n.startswith("..tmp") or n == "..data_tmp"], names
    assert len([n for n in names if n.startswith("..2")]) <= 2, names


def _rotate_and_wait(agent: DevAgentThread, helper: Helper, n: int) -> None:
    agent.rotate_now()
    helper.wait_log("Received update", n)


def test_disk_full_keeps_old_files_and_recovers(sock_dir: Path, tmp_path: Path, tmpfs: Path) -> None:
    with (
        DevAgentThread(sock_dir, {"app": ["spiffe://example.org/app"]}) as agent,
        Helper(_cfg(agent.socket_path("app"), tmpfs), tmp_path) as helper,
    ):
        helper.wait_log("X.509 certificates updated")
        before = _snapshot(tmpfs)
        filler = _fill(tmpfs)
        for n in (2, 3, 4):
            _rotate_and_wait(agent, helper, n)
            helper.wait_log("Unable to dump bundle", n - 1)
            assert _snapshot(tmpfs) == before
            _no_leftovers(tmpfs)
        assert helper.count(DUMP_ERROR) == 1, helper.output()  # three failures, one cause, one line
        assert "No space left on device" in helper.output()
        filler.unlink()
        _rotate_and_wait(agent, helper, 5)
        helper.wait_log("X.509 certificates updated", 2)
        after = _snapshot(tmpfs)
        assert after["svid.pem"] != before["svid.pem"]
        check_pair(after["svid.pem"], after["key.pem"])
        assert helper.stop() == 0


def test_read_only_cert_dir_keeps_old_files_and_recovers(sock_dir: Path, tmp_path: Path, tmpfs: Path) -> None:
    with (
        DevAgentThread(sock_dir, {"app": ["spiffe://example.org/app"]}) as agent,
        Helper(_cfg(agent.socket_path("app"), tmpfs), tmp_path) as helper,
    ):
        helper.wait_log("X.509 certificates updated")
        before = _snapshot(tmpfs)
        why = _mount("-o", "remount,ro", str(tmpfs))
        if why is not None:
            pytest.skip(f"cannot remount read-only: {why}")
        try:
            for n in (2, 3):
                _rotate_and_wait(agent, helper, n)
                helper.wait_log("Unable to dump bundle", n - 1)
                assert _snapshot(tmpfs) == before
        finally:
            assert _mount("-o", "remount,rw", str(tmpfs)) is None
        assert helper.count(DUMP_ERROR) == 1, helper.output()
        assert "Read-only file system" in helper.output()
        _rotate_and_wait(agent, helper, 4)
        helper.wait_log("X.509 certificates updated", 2)
        assert _snapshot(tmpfs)["svid.pem"] != before["svid.pem"]
        _no_leftovers(tmpfs)
        assert helper.stop() == 0
