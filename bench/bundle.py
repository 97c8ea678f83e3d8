"""Bundle benchmark: an X.509 update whose federated bundle set holds 1,000 CA certificates.

The update is the dev agent's certificate shapes (real roots, one SVID issued by the own root), converted
into an :class:`~spiffe_helper.svid.X509Context` as the client does (``X509Context.from_wire``). Measured:
parse+validate of the wire form, render (``store.render.render_x509``), and ``CredentialWriter.write_x509``
(render + compare + atomic write with fsyncs) in both layouts. Two SVIDs alternate so every write is a real
change (an unchanged update is measured on its own row). The reference, measured in the same run, is the
least any writer must do: PEM-encode the certificates and write+fsync one file.

Target: render + write <= 50 ms (median).

    python bench/bundle.py [--domains 100] [--per-domain 10] [--repeat 30]
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import median, percentile, print_header, print_table, scratch_dir, verdict, write_helper_conf
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from spiffe_helper.config.loader import load_config
from spiffe_helper.devagent.ca import Issuer, der_chain, issue_leaf, make_root
from spiffe_helper.devagent.keys import generate_key, pkcs8_der
from spiffe_helper.spiffeid import TrustDomain
from spiffe_helper.store.render import X509Options, render_x509
from spiffe_helper.store.writer import CredentialWriter
from spiffe_helper.svid import WireX509Svid, X509Context

OWN_TD = TrustDomain.parse("bench.example")
TARGET_MS = 50.0


def build_federation(domains: int, per_domain: int) -> tuple[Issuer, dict[str, bytes], int]:
    """The own trust domain's root plus ``domains`` federated trust domains of ``per_domain`` roots each.

    Returns the own issuer, ``federated_bundles`` as on the wire (DER per trust domain) and the number of CA
    certificates in the whole set.
    """
    now = time.time()
    own_key = generate_key("ec")
    own_root = make_root(OWN_TD, own_key, now, 86400)
    federated: dict[str, bytes] = {}
    count = 1
    for i in range(domains):
        td = TrustDomain.parse(f"partner-{i:04d}.example")
        roots = [make_root(td, generate_key("ec"), now, 86400) for _ in range(per_domain)]
        federated[td.id_string] = der_chain(roots)
        count += len(roots)
    federated[OWN_TD.id_string] = der_chain([own_root])
    return Issuer(own_root, own_key), federated, count


def wire_svid(issuer: Issuer, n: int) -> WireX509Svid:
    """A fresh SVID of the own trust domain, as the Workload API sends it."""
    key = generate_key("ec")
    spiffe_id = f"spiffe://{OWN_TD.name}/bench/{n}"
    leaf = issue_leaf(spiffe_id, key.public_key(), issuer, time.time(), 3600)
    return WireX509Svid(spiffe_id, der_chain([leaf]), pkcs8_der(key), der_chain([issuer.cert]))


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    """Milliseconds of ``repeat`` calls of ``fn``."""
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def floor_write(path: Path, certs: list[x509.Certificate]) -> None:
    """The reference: PEM-encode every certificate and write+fsync one file (no temp file, no rename)."""
    data = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def measure_writer(d: Path, layout: str, contexts: list[X509Context], repeat: int) -> tuple[list[float], list[float]]:
    """Milliseconds of ``CredentialWriter.write_x509`` in ``layout``: alternating SVIDs, then the same one."""
    conf = write_helper_conf(
        d / f"{layout}.conf",
        {
            "agent_address": "unix:///tmp/unused.sock",
            "cert_dir": str(d / layout),
            "svid_file_name": "svid.pem",
            "svid_key_file_name": "svid_key.pem",
            "svid_bundle_file_name": "bundle.pem",
            "include_federated_domains": True,
            "file_layout": layout,
        },
    )
    writer = CredentialWriter(load_config(str(conf), environ={}))
    writer.prepare()
    turn = itertools.count()
    changed = timed(lambda: writer.write_x509(contexts[next(turn) % 2]), repeat)
    writer.write_x509(contexts[0])
    unchanged = timed(lambda: writer.write_x509(contexts[0]), repeat)
    return changed, unchanged


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=100, help="federated trust domains")
    parser.add_argument("--per-domain", type=int, default=10, help="CA certificates per federated trust domain")
    parser.add_argument("--repeat", type=int, default=30, help="measurements per row")
    args = parser.parse_args()

    print_header("bundle: render and write an X.509 update with a large federated bundle set")
    start = time.perf_counter()
    issuer, federated, n_cas = build_federation(args.domains, args.per_domain)
    wires = [wire_svid(issuer, 0), wire_svid(issuer, 1)]
    print(
        f"built {n_cas} CA certificates in {time.perf_counter() - start:.1f} s "
        f"({args.domains} federated trust domains x {args.per_domain} + 1 own root)"
    )
    contexts = [X509Context.from_wire([w], federated) for w in wires]
    fed_certs = [c for b in contexts[0].bundles.values() for c in b.authorities]
    opts = X509Options(include_federated_domains=True)
    pem = render_x509(contexts[0], opts)
    print(f"bundle file: {pem.bundle.count(b'BEGIN CERTIFICATE')} certificates, {len(pem.bundle) / 1024:.0f} KiB")
    print()

    rows: list[list[object]] = []

    def row(name: str, ms: list[float], target: float | None = None) -> None:
        med = median(ms)
        rows.append([name, med, percentile(ms, 90), max(ms), verdict(med, target) if target else ""])

    row("parse+validate (X509Context.from_wire)", timed(lambda: X509Context.from_wire([wires[0]], federated), 10))
    row("render (render_x509)", timed(lambda: render_x509(contexts[0], opts), args.repeat))
    with scratch_dir() as d:
        for layout in ("atomic_dir", "plain"):
            changed, unchanged = measure_writer(d, layout, contexts, args.repeat)
            row(f"render+write, changed ({layout})", changed, TARGET_MS)
            row(f"render+write, unchanged ({layout})", unchanged)
        floor_path = d / "floor.pem"
        row(
            "reference: PEM-encode + write+fsync one file",
            timed(lambda: floor_write(floor_path, fed_certs), args.repeat),
        )
    print(f"milliseconds, {args.repeat} runs per row (parse: 10); target: render+write <= {TARGET_MS:.0f} ms")
    print_table(["step", "median", "p90", "max", "target"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
