"""Byte formats of the credential files, as the Go helper writes them (reference sections 7, 8)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from spiffe_helper.errors import SvidError
from spiffe_helper.jwt import JwtBundleSet, JwtSvid
from spiffe_helper.store.render import (
    X509Options,
    pem_block,
    pem_private_key,
    render_jwt_bundles,
    render_jwt_svid,
    render_x509,
)
from spiffe_helper.svid import X509Context
from tests.pki import NOW, Pki, der, jwk, jwks, jwt_key, make_root, mint, pem

ROOT = Path(__file__).resolve().parents[2]


def _blocks(data: bytes) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(data)


def test_cert_file_is_leaf_then_intermediates_in_go_pem_encoding() -> None:
    pki = Pki.create(intermediate=True)
    ctx = pki.context()
    out = render_x509(ctx, X509Options())
    svid = ctx.default_svid
    assert out.cert == pem(svid.certificates)
    assert _blocks(out.cert) == list(svid.certificates)
    lines = out.cert.decode().split("\n")
    assert out.cert.endswith(b"-----END CERTIFICATE-----\n")
    assert all(len(line) <= 64 for line in lines)
    assert b"\r" not in out.cert
    assert out.bundle == pem([pki.root.cert])
    assert str(out.spiffe_id) == "spiffe://example.org/workload"


def test_key_is_unencrypted_pkcs8_private_key_pem() -> None:
    ctx = Pki.create().context()
    out = render_x509(ctx, X509Options())
    assert out.key.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert out.key.endswith(b"-----END PRIVATE KEY-----\n")
    key = serialization.load_pem_private_key(out.key, None)
    assert key.public_key() == ctx.default_svid.leaf.public_key()
    assert "PRIVATE" not in repr(out) and "key=" not in repr(out)


def test_add_intermediates_to_bundle_moves_them_from_cert_to_bundle() -> None:
    pki = Pki.create(intermediate=True)
    assert pki.intermediate is not None
    ctx = pki.context()
    out = render_x509(ctx, X509Options(add_intermediates_to_bundle=True))
    assert _blocks(out.cert) == [ctx.default_svid.leaf]
    assert _blocks(out.bundle) == [pki.root.cert, pki.intermediate.cert]


def test_federated_roots_follow_own_roots_sorted_by_trust_domain() -> None:
    pki = Pki.create("middle.org")
    zed, alpha = make_root("zed.org"), make_root("alpha.org")
    fed = {"spiffe://zed.org": der(zed.cert), "alpha.org": der(alpha.cert)}
    ctx = pki.context(federated=fed)
    without = render_x509(ctx, X509Options())
    assert _blocks(without.bundle) == [pki.root.cert]
    out = render_x509(ctx, X509Options(include_federated_domains=True))
    assert _blocks(out.bundle) == [pki.root.cert, alpha.cert, zed.cert]


def test_bundle_keeps_agent_order_of_own_roots() -> None:
    pki = Pki.create()
    second = make_root("example.org", name="second")
    wire = pki.wire()._replace(bundle=der(second.cert, pki.root.cert))
    ctx = X509Context.from_wire([wire], {})
    assert _blocks(render_x509(ctx, X509Options()).bundle) == [second.cert, pki.root.cert]


def test_omit_expired_drops_expired_certs_from_every_file() -> None:
    pki = Pki.create()
    old = make_root("example.org", not_after=NOW + dt.timedelta(minutes=10), name="old")
    wire = pki.wire()._replace(bundle=der(old.cert, pki.root.cert))
    ctx = X509Context.from_wire([wire], {})
    later = NOW + dt.timedelta(minutes=30)  # old root expired, leaf (1 h) still valid
    kept = render_x509(ctx, X509Options(omit_expired=True), now=later)
    assert _blocks(kept.bundle) == [pki.root.cert]
    assert _blocks(render_x509(ctx, X509Options(), now=later).bundle) == [old.cert, pki.root.cert]
    # Everything expired: the file is written empty, as Go does.
    empty = render_x509(ctx, X509Options(omit_expired=True), now=NOW + dt.timedelta(days=2))
    assert empty.cert == b"" and empty.bundle == b""


def test_hint_selects_svid_and_unknown_hint_is_gos_error() -> None:
    pki = Pki.create()
    ctx = X509Context.from_wire([pki.wire("/a", hint="first"), pki.wire("/b", hint="second")], {})
    assert str(render_x509(ctx, X509Options()).spiffe_id).endswith("/a")
    assert str(render_x509(ctx, X509Options(hint="second")).spiffe_id).endswith("/b")
    with pytest.raises(SvidError, match="failed to find the hinted x509 SVID"):
        render_x509(ctx, X509Options(hint="nope"))


def test_pem_private_key_roundtrips() -> None:
    ctx = Pki.create().context()
    data = pem_private_key(ctx.default_svid.private_key)
    assert serialization.load_pem_private_key(data, None).private_numbers() == (  # type: ignore[union-attr]
        ctx.default_svid.private_key.private_numbers()  # type: ignore[union-attr]
    )


@pytest.mark.parametrize("size", [0, 1, 47, 48, 49, 1000])
def test_pem_block_is_what_cryptography_writes(size: int) -> None:
    cert = Pki.create().root.cert
    der_bytes = cert.public_bytes(serialization.Encoding.DER)
    assert pem_block("CERTIFICATE", der_bytes) == cert.public_bytes(serialization.Encoding.PEM)
    blob = bytes(range(256)) * 4
    assert pem_block("X", blob[:size]).startswith(b"-----BEGIN X-----\n")
    assert base64.b64decode(b"".join(pem_block("X", blob[:size]).splitlines()[1:-1])) == blob[:size]


def test_key_file_holds_the_agents_der_as_sent_and_equals_a_re_encoding() -> None:
    ctx = Pki.create().context()
    svid = ctx.default_svid
    assert svid.key_der  # from_wire keeps the bytes it validated
    out = render_x509(ctx, X509Options())
    assert out.key == pem_block("PRIVATE KEY", svid.key_der) == pem_private_key(svid.private_key)
    assert repr(svid.key_der) not in repr(svid)


def test_rendering_leaves_cryptographys_serialization_package_unloaded() -> None:
    """The cold start does not pay for the SSH/PKCS#12 code: neither validating nor rendering loads it.

    A fresh interpreter gets the agent's bytes on stdin (the test PKI itself uses the package)."""
    wire = Pki.create().wire()
    code = (
        "import json, sys\n"
        "from spiffe_helper.svid import WireX509Svid, X509Context\n"
        "from spiffe_helper.store.render import X509Options, render_x509\n"
        "f = json.load(sys.stdin)\n"
        "wire = WireX509Svid(f['id'], bytes.fromhex(f['c']), bytes.fromhex(f['k']), bytes.fromhex(f['b']))\n"
        "render_x509(X509Context.from_wire([wire], {}), X509Options())\n"
        "print(sorted(m for m in sys.modules if m.startswith('cryptography.hazmat.primitives.serialization')))\n"
    )
    doc = {"id": wire.spiffe_id, "c": wire.x509_svid.hex(), "k": wire.x509_svid_key.hex(), "b": wire.bundle.hex()}
    out = subprocess.run(
        [sys.executable, "-c", code], input=json.dumps(doc), capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"


def test_jwt_svid_file_is_the_raw_token_without_newline() -> None:
    kid, key = jwt_key()
    token = mint(kid, key, "spiffe://example.org/w", ["aud"], NOW + dt.timedelta(minutes=5))
    assert render_jwt_svid(JwtSvid.parse(token)) == token.encode()


def test_jwt_bundle_file_is_compact_sorted_json_of_std_base64_jwks() -> None:
    kid1, k1 = jwt_key()
    kid2, k2 = jwt_key()
    raw = {"spiffe://zz.org": jwks(jwk(k2, kid2)), "example.org": jwks(jwk(k1, kid1))}
    out = render_jwt_bundles(JwtBundleSet.from_wire(raw))
    assert not out.endswith(b"\n")
    assert b" " not in out
    doc = json.loads(out)
    assert list(doc) == ["example.org", "zz.org"]
    assert base64.b64decode(doc["example.org"], validate=True) == raw["example.org"]
    assert base64.b64decode(doc["zz.org"], validate=True) == raw["spiffe://zz.org"]
    expected = '{{"example.org":"{}","zz.org":"{}"}}'.format(
        base64.b64encode(raw["example.org"]).decode(),
        base64.b64encode(raw["spiffe://zz.org"]).decode(),
    )
    assert out.decode() == expected
