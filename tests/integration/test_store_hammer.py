"""Reader hammer: another process reads cert+key pairs in a tight loop while the helper writes 1,000 rotations.

Pipeline: the dev agent (in this process, driven by its rotate-now API because its scheduler never rotates
faster than every 50 ms) -> the real helper process (default atomic_dir layout) -> files -> a reader process.
Each rotation waits until the helper has swapped ``..data`` before the next, so 1,000 distinct generations are
written and observed.

The reader alternates two ways of reading, and must never see a missing file, a partial PEM, or (when the
read is consistent by protocol) a key that does not belong to its certificate or a certificate that does not
chain to the bundle:

- ``names``: the visible names, with ``..data`` read before and after. When ``..data`` did not move, the three
  files come from one generation and must match. When it moved, the read straddled a swap (each file is
  still whole); those reads are counted, not judged: two separate ``open()`` calls can never be atomic.
- ``dirfd``: open ``..data`` once as a directory and read the three files relative to it: always one
  generation. If the generation was pruned meanwhile (two swaps later), the open fails and is counted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from spiffe_helper.devagent import DevAgentThread
from tests.integration.test_app_harness import ROOT, Helper, eventually

ROTATIONS = 1000
NAMES = ("svid.pem", "key.pem", "bundle.pem")


def check_sample(files: dict[str, bytes]) -> str:
    """An empty string when the three files are whole and belong together, else what is wrong."""
    for name, data in files.items():
        if not data.endswith(b"-----\n"):
            return f"partial {name}"
    try:
        chain = x509.load_pem_x509_certificates(files["svid.pem"])
        key = serialization.load_pem_private_key(files["key.pem"], None)
        bundle = x509.load_pem_x509_certificates(files["bundle.pem"])
    except ValueError as exc:
        return f"unparsable: {exc}"
    if chain[0].public_key() != key.public_key():
        return "key does not match certificate"
    for root in bundle:
        try:
            chain[-1].verify_directly_issued_by(root)
            return ""
        except Exception:
            continue
    return "certificate does not chain to the bundle"


def _read_names(d: Path, stats: dict[str, Any]) -> None:
    before = os.readlink(d / "..data")
    try:
        files = {n: (d / n).read_bytes() for n in NAMES}
    except FileNotFoundError as exc:
        stats["violations"].append(f"missing file: {exc.filename}")
        return
    after = os.readlink(d / "..data")
    problem = check_sample(files)
    if before != after:
        stats["straddled"] += 1
        if problem.startswith("partial") or problem.startswith("unparsable"):
            stats["violations"].append(problem)
        elif problem:
            stats["straddled_mismatch"] += 1
        return
    stats["names_ok" if not problem else "names_bad"] += 1
    if problem:
        stats["violations"].append(f"names: {problem}")


def _read_dirfd(d: Path, stats: dict[str, Any]) -> None:
    fd = os.open(d / "..data", os.O_RDONLY | os.O_DIRECTORY)
    try:
        files = {}
        for n in NAMES:
            f = os.open(n, os.O_RDONLY, dir_fd=fd)
            try:
                files[n] = b"".join(iter(lambda f=f: os.read(f, 65536), b""))  # type: ignore[misc]
            finally:
                os.close(f)
    except FileNotFoundError:
        stats["dirfd_pruned"] += 1
        return
    finally:
        os.close(fd)
    problem = check_sample(files)
    stats["dirfd_ok" if not problem else "dirfd_bad"] += 1
    if problem:
        stats["violations"].append(f"dirfd: {problem}")


def reader(cert_dir: str, stop_file: str) -> None:
    """The reader process: tight loop until ``stop_file`` exists, then JSON stats on stdout."""
    d, stop = Path(cert_dir), Path(stop_file)
    stats: dict[str, Any] = {
        "names_ok": 0,
        "names_bad": 0,
        "straddled": 0,
        "straddled_mismatch": 0,
        "dirfd_ok": 0,
        "dirfd_bad": 0,
        "dirfd_pruned": 0,
        "violations": [],
    }
    i = 0
    while not stop.exists():
        (_read_names if i % 2 == 0 else _read_dirfd)(d, stats)
        i += 1
    stats["violations"] = stats["violations"][:20]
    print(json.dumps(stats))


def test_checker_flags_bad_samples() -> None:
    from spiffe_helper.store.render import pem_private_key
    from tests.pki import Pki, pem

    pki = Pki.create()
    a, b = pki.context().default_svid, pki.context().default_svid
    good = {
        "svid.pem": pem(a.certificates),
        "key.pem": pem_private_key(a.private_key),
        "bundle.pem": pem([pki.root.cert]),
    }
    assert check_sample(good) == ""
    assert check_sample({**good, "key.pem": pem_private_key(b.private_key)}) == "key does not match certificate"
    assert check_sample({**good, "svid.pem": good["svid.pem"][:100]}) == "partial svid.pem"
    other = Pki.create()
    assert check_sample({**good, "bundle.pem": pem([other.root.cert])}) == "certificate does not chain to the bundle"


def test_reader_never_sees_a_torn_or_mismatched_pair_over_1000_rotations(sock_dir: Path, tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    stop_file = tmp_path / "stop"
    with DevAgentThread(sock_dir, {"app": ["spiffe://example.org/app"]}, x509_ttl="1h") as agent:
        cfg = {
            "agent_address": str(agent.socket_path("app")),
            "cert_dir": str(certs),
            "svid_file_name": "svid.pem",
            "svid_key_file_name": "key.pem",
            "svid_bundle_file_name": "bundle.pem",
            "log_level": "warn",  # 1,000 rotations: keep the helper's own output small
        }
        with Helper(cfg, tmp_path) as helper:
            eventually(lambda: (certs / "..data").exists(), timeout=30)
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            code = "import sys; from tests.integration.test_store_hammer import reader; reader(*sys.argv[1:])"
            proc = subprocess.Popen(
                [sys.executable, "-c", code, str(certs), str(stop_file)], stdout=subprocess.PIPE, env=env, cwd=ROOT
            )
            try:
                started = time.monotonic()
                for _ in range(ROTATIONS):
                    current = os.readlink(certs / "..data")
                    agent.rotate_now()
                    eventually(lambda c=current: os.readlink(certs / "..data") != c, timeout=30, interval=0.0005)
                elapsed = time.monotonic() - started
            finally:
                stop_file.touch()
                out, _ = proc.communicate(timeout=60)
            assert helper.stop() == 0
            assert "level=error" not in helper.output()
    stats = json.loads(out)
    print(f"\n{ROTATIONS} rotations in {elapsed:.1f}s; reader: {stats}")
    assert stats["violations"] == []
    assert stats["names_bad"] == 0 and stats["dirfd_bad"] == 0
    assert stats["names_ok"] > ROTATIONS and stats["dirfd_ok"] > ROTATIONS  # it really read during the run
