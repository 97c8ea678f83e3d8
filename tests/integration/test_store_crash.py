"""Crash safety: SIGKILL a process writing credentials in a loop, at random moments, many times.

The writer is a real process running the real store code (``CredentialWriter.write_x509`` in a loop with a
fresh SVID each time), forked from a preloaded forkserver so 200 kills fit in seconds. After every kill:

- every visible file is present and complete, the key matches the certificate and the certificate chains to
  the bundle (atomic_dir layout);
- a restart (``CredentialWriter.prepare()``, what the helper runs first) removes every leftover and does not
  touch the visible files.

The plain layout is also killed (fewer times): its files are always complete, but a kill between the renames
can leave a new key next to an old certificate, which is why atomic_dir is the default. The count is printed.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import os
import random
import time
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from spiffe_helper.config.model import Config
from spiffe_helper.store.writer import CredentialWriter

NAMES = {"svid_file_name": "svid.pem", "svid_key_file_name": "key.pem", "svid_bundle_file_name": "bundle.pem"}
KILLS_ATOMIC_DIR = 200
KILLS_PLAIN = 50


def _config(cert_dir: str, layout: str) -> Config:
    return Config(cert_dir=cert_dir, file_layout=layout, **NAMES)


def write_forever(cert_dir: str, layout: str, started: multiprocessing.synchronize.Event) -> None:
    """The victim: what the helper does on start, then one write per fresh SVID, forever."""
    from tests.pki import Pki

    writer = CredentialWriter(_config(cert_dir, layout))
    writer.prepare()
    pki = Pki.create()
    while True:
        writer.write_x509(pki.context())
        started.set()


def _files(d: Path) -> dict[str, bytes]:
    return {n: (d / n).read_bytes() for n in NAMES.values()}


def _complete(files: dict[str, bytes]) -> tuple[list[x509.Certificate], Any, list[x509.Certificate]]:
    for name, data in files.items():
        assert data.endswith(b"-----\n"), f"{name} is truncated"
    chain = x509.load_pem_x509_certificates(files["svid.pem"])
    key = serialization.load_pem_private_key(files["key.pem"], None)
    bundle = x509.load_pem_x509_certificates(files["bundle.pem"])
    return chain, key, bundle


def _consistent(files: dict[str, bytes]) -> bool:
    chain, key, bundle = _complete(files)
    if chain[0].public_key() != key.public_key():
        return False
    try:
        chain[-1].verify_directly_issued_by(bundle[0])
    except Exception:
        return False
    return True


def _leftovers(d: Path) -> list[str]:
    names = os.listdir(d)
    generations = [n for n in names if n.startswith("..2")]
    temps = [n for n in names if n.startswith("..tmp.") or n == "..data_tmp"]
    return temps + (generations if len(generations) > 2 else [])


def _kill_loop(d: Path, layout: str, kills: int) -> dict[str, int]:
    mp = multiprocessing.get_context("forkserver")
    mp.set_forkserver_preload(["spiffe_helper.store.writer", "tests.pki"])
    rng = random.Random(4)
    stats = {"kills": 0, "left_leftovers": 0, "mismatched": 0}
    for _ in range(kills):
        started = mp.Event()
        proc = mp.Process(target=write_forever, args=(str(d), layout, started), daemon=True)
        proc.start()
        assert started.wait(30), "the writer never completed a write"
        # Each write takes a few ms: a delay up to 25 ms lands anywhere in several write cycles.
        time.sleep(rng.uniform(0, 0.025))
        proc.kill()  # SIGKILL
        proc.join(30)
        assert proc.exitcode == -9
        stats["kills"] += 1
        files = _files(d)  # every visible name exists
        _complete(files)  # and no file is partial
        if not _consistent(files):
            stats["mismatched"] += 1
        if _leftovers(d):
            stats["left_leftovers"] += 1
        CredentialWriter(_config(str(d), layout)).prepare()  # the restart
        assert _leftovers(d) == []
        assert _files(d) == files  # cleaning never touches what readers see
    return stats


def test_sigkill_during_atomic_dir_writes(tmp_path: Path) -> None:
    stats = _kill_loop(tmp_path, "atomic_dir", KILLS_ATOMIC_DIR)
    print(f"\natomic_dir: {stats}")
    assert stats["mismatched"] == 0
    assert stats["kills"] == KILLS_ATOMIC_DIR


def test_sigkill_during_plain_writes_never_leaves_a_partial_file(tmp_path: Path) -> None:
    stats = _kill_loop(tmp_path, "plain", KILLS_PLAIN)
    print(f"\nplain: {stats} (mismatched pairs are possible in this layout)")
    assert stats["kills"] == KILLS_PLAIN
