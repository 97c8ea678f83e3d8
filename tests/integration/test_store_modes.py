"""Key files are never readable by group or other, even for an instant, even under umask 000.

A writer process with umask 000 writes 300 rotations while this process scans the directory tree in a tight
loop and lstat()s every file (temporary ones included). The deterministic half of this property (every
credential file is created O_EXCL with its final mode) is in tests/unit/test_store_atomic.py; this is the
real-process half.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.integration.test_app_harness import ROOT

WRITES = 300
_WRITER = """
import os, sys
os.umask(0)
from spiffe_helper.config.model import Config
from spiffe_helper.store.writer import CredentialWriter
from tests.pki import Pki
cfg = Config(cert_dir=sys.argv[1], svid_file_name="svid.pem", svid_key_file_name="svid_key.pem",
             svid_bundle_file_name="bundle.pem", file_layout=sys.argv[2])
w = CredentialWriter(cfg)
w.prepare()
pki = Pki.create()
for _ in range(int(sys.argv[3])):
    w.write_x509(pki.context())
"""


def _scan(d: Path, seen: dict[str, int]) -> list[str]:
    bad = []
    stack = [str(d)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except FileNotFoundError:
            continue
        for e in entries:
            try:
                st = e.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(st.st_mode):
                stack.append(e.path)
            elif stat.S_ISREG(st.st_mode) and "key" in e.name:
                seen["keys"] += 1
                if st.st_mode & 0o077:
                    bad.append(f"{e.path} {stat.S_IMODE(st.st_mode):04o}")
    return bad


def _hammer_modes(d: Path, layout: str) -> dict[str, int]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(d), layout, str(WRITES)], env=env, cwd=ROOT)
    seen = {"keys": 0, "scans": 0}
    bad: list[str] = []
    while proc.poll() is None:
        bad += _scan(d, seen)
        seen["scans"] += 1
    assert proc.wait() == 0
    assert bad == []
    assert stat.S_IMODE((d / "svid_key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((d / "svid.pem").stat().st_mode) == 0o644  # exact, not widened to 0666 by umask 0
    return seen


def test_key_never_readable_by_others_atomic_dir(tmp_path: Path) -> None:
    seen = _hammer_modes(tmp_path / "certs", "atomic_dir")
    assert seen["scans"] > 10 and seen["keys"] > 10


def test_key_never_readable_by_others_plain(tmp_path: Path) -> None:
    seen = _hammer_modes(tmp_path / "certs", "plain")
    assert seen["scans"] > 10 and seen["keys"] > 10
