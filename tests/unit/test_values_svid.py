"""X509Context.from_wire and friends (spiffe_helper/svid.py) against independently built certificates."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from spiffe_helper.der import is_pkcs8
from spiffe_helper.errors import SvidError
from spiffe_helper.spiffeid import SpiffeId, TrustDomain
from spiffe_helper.svid import WireX509Svid, X509Context, spiffe_id_of
from tests.pki import HOUR, NOW, Ca, der, key_usage, make_ca, make_leaf, new_key, wire_svid

ID = "spiffe://example.org/workload"
TD = TrustDomain("example.org")


@pytest.fixture(scope="module")
def root() -> Ca:
    return make_ca()


def test_valid_svid_directly_under_the_root(root: Ca) -> None:
    ctx = X509Context.from_wire([wire_svid(root, ID)], {})
    svid = ctx.default_svid
    assert svid.spiffe_id == SpiffeId.parse(ID)
    assert len(svid.certificates) == 1 and svid.intermediates == ()
    assert ctx.bundle_for(TD).authorities == (root.cert,)
    assert svid.expires_at == svid.leaf.not_valid_after_utc


def test_chain_of_length_two_verifies_through_the_intermediate(root: Ca) -> None:
    inter = make_ca(parent=root, cn="intermediate", not_after=NOW + 2 * HOUR)
    leaf, key = make_leaf(inter, ID, not_after=NOW + 3 * HOUR)
    ctx = X509Context.from_wire([wire_svid(root, ID, chain=(leaf, inter.cert), key=key)], {})
    svid = ctx.default_svid
    assert svid.leaf == leaf and svid.intermediates == (inter.cert,)
    assert svid.expires_at == inter.cert.not_valid_after_utc  # the earliest notAfter of the chain


def test_leaf_without_basic_constraints_or_eku_is_accepted(root: Ca) -> None:
    leaf, key = make_leaf(root, ID, ca=None, eku=[])
    X509Context.from_wire([wire_svid(root, ID, chain=(leaf,), key=key)], {})


def test_private_key_is_not_in_the_repr(root: Ca) -> None:
    ctx = X509Context.from_wire([wire_svid(root, ID, hint="h1")], {})
    svid = ctx.default_svid
    assert "private_key" not in repr(svid) and "PRIVATE" not in repr(svid)
    assert "Key" not in repr(svid) and "Key" not in repr(ctx) and "Key" not in str(svid)
    assert repr(svid).startswith("X509Svid(spiffe_id=SpiffeId(") and "hint='h1'" in repr(svid)


def test_values_are_immutable(root: Ca) -> None:
    ctx = X509Context.from_wire([wire_svid(root, ID)], {})
    with pytest.raises(AttributeError):
        ctx.default_svid.hint = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        ctx.svids = ()  # type: ignore[misc]
    with pytest.raises(AttributeError):
        ctx.bundle_for(TD).trust_domain = TrustDomain("other.org")  # type: ignore[misc]


# ----- hints, defaults, bundles -----


def test_hints_first_wins_and_default_is_first(root: Ca) -> None:
    a = wire_svid(root, "spiffe://example.org/a", hint="internal")
    b = wire_svid(root, "spiffe://example.org/b", hint="external")
    c = wire_svid(root, "spiffe://example.org/c", hint="internal")  # duplicate hint: dropped
    ctx = X509Context.from_wire([a, b, c], {})
    assert [str(s.spiffe_id) for s in ctx.svids] == ["spiffe://example.org/a", "spiffe://example.org/b"]
    assert str(ctx.svid_for_hint("external").spiffe_id) == "spiffe://example.org/b"
    assert str(ctx.svid_for_hint("internal").spiffe_id) == "spiffe://example.org/a"
    assert ctx.svid_for_hint("") is ctx.default_svid
    with pytest.raises(SvidError, match="failed to find the hinted x509 SVID"):
        ctx.svid_for_hint("nope")


def test_duplicate_hint_is_dropped_even_when_invalid(root: Ca) -> None:
    good = wire_svid(root, "spiffe://example.org/a", hint="h")
    bad = WireX509Svid("spiffe://example.org/b", b"\x30\x03junk", b"", b"", "h")
    assert len(X509Context.from_wire([good, bad], {}).svids) == 1


def test_federated_bundles_accept_both_key_forms_and_sort(root: Ca) -> None:
    fed_b, fed_a = make_ca("b.example"), make_ca("a.example")
    ctx = X509Context.from_wire(
        [wire_svid(root, ID)], {"spiffe://b.example": der(fed_b.cert), "a.example": der(fed_a.cert, fed_a.cert)}
    )
    assert set(ctx.bundles) == {TD, TrustDomain("a.example"), TrustDomain("b.example")}
    assert [b.trust_domain.name for b in ctx.federated_bundles(TD)] == ["a.example", "b.example"]
    assert len(ctx.bundle_for(TrustDomain("a.example")).authorities) == 2
    with pytest.raises(SvidError, match=r'no bundles found for "c.example" trust domain'):
        ctx.bundle_for(TrustDomain("c.example"))


def test_own_bundle_field_wins_over_federated_entry(root: Ca) -> None:
    other = make_ca()
    ctx = X509Context.from_wire([wire_svid(root, ID)], {"spiffe://example.org": der(other.cert)})
    assert ctx.bundle_for(TD).authorities == (root.cert,)


def test_bundle_from_federated_map_is_used_when_svid_bundle_empty(root: Ca) -> None:
    ctx = X509Context.from_wire([wire_svid(root, ID, bundle=b"")], {"spiffe://example.org": der(root.cert)})
    assert ctx.bundle_for(TD).authorities == (root.cert,)


def test_svids_of_two_trust_domains(root: Ca) -> None:
    other = make_ca("other.example")
    ctx = X509Context.from_wire([wire_svid(root, ID), wire_svid(other, "spiffe://other.example/x")], {})
    assert [s.spiffe_id.trust_domain.name for s in ctx.svids] == ["example.org", "other.example"]


# ----- rejection rules -----


def _reject(root: Ca, match: str, **leaf_kw: Any) -> None:
    leaf, key = make_leaf(root, ID, **leaf_kw)
    with pytest.raises(SvidError, match=match) as err:
        X509Context.from_wire([wire_svid(root, ID, chain=(leaf,), key=key)], {})
    assert "PRIVATE KEY" not in str(err.value)


def test_reject_empty_svid_list() -> None:
    with pytest.raises(SvidError, match="contains no SVIDs"):
        X509Context.from_wire([], {})


def test_reject_two_uri_sans(root: Ca) -> None:
    _reject(root, "exactly one URI SAN, found 2", uris=[ID, "spiffe://example.org/other"])


def test_reject_no_uri_san(root: Ca) -> None:
    _reject(root, "no subjectAltName", uris=[])


def test_reject_san_that_is_not_the_spiffe_id(root: Ca) -> None:
    _reject(root, "does not match the SPIFFE ID", uris=["spiffe://example.org/someone-else"])


def test_reject_leaf_that_is_a_ca(root: Ca) -> None:
    _reject(root, "must not be a CA", ca=True)


def test_reject_missing_key_usage(root: Ca) -> None:
    _reject(root, "no key usage", with_ku=False)


def test_reject_key_usage_without_digital_signature(root: Ca) -> None:
    _reject(root, "lacks digitalSignature", ku=key_usage(key_encipherment=True))


@pytest.mark.parametrize("bit", ["key_cert_sign", "crl_sign"])
def test_reject_key_usage_with_ca_bits(root: Ca, bit: str) -> None:
    _reject(root, "keyCertSign or cRLSign", ku=key_usage(digital_signature=True, **{bit: True}))


def test_reject_eku_without_client_auth(root: Ca) -> None:
    _reject(root, "serverAuth and clientAuth", eku=[ExtendedKeyUsageOID.SERVER_AUTH])


def test_reject_expired_leaf(root: Ca) -> None:
    _reject(root, "certificate 0 has expired", not_before=NOW - 3 * HOUR, not_after=NOW - HOUR)


def test_reject_not_yet_valid_leaf(root: Ca) -> None:
    _reject(root, "not valid yet", not_before=NOW + HOUR, not_after=NOW + 2 * HOUR)


def test_reject_root_spiffe_id_for_a_leaf(root: Ca) -> None:
    leaf, key = make_leaf(root, "spiffe://example.org")
    with pytest.raises(SvidError, match="must have a path"):
        X509Context.from_wire([wire_svid(root, "spiffe://example.org", chain=(leaf,), key=key)], {})


def test_reject_key_that_does_not_match_the_leaf(root: Ca) -> None:
    leaf, _ = make_leaf(root, ID)
    with pytest.raises(SvidError, match="private key does not match"):
        X509Context.from_wire([wire_svid(root, ID, chain=(leaf,), key=new_key())], {})


def test_reject_key_that_is_not_pkcs8(root: Ca) -> None:
    good = wire_svid(root, ID)
    with pytest.raises(SvidError, match="not unencrypted PKCS#8 DER") as err:
        X509Context.from_wire([good._replace(x509_svid_key=b"\x30\x03\x02\x01\x00")], {})
    assert "\\x30" not in str(err.value)


def test_reject_garbage_chain(root: Ca) -> None:
    good = wire_svid(root, ID)
    with pytest.raises(SvidError, match=r"truncated DER|malformed DER|cannot be parsed"):
        X509Context.from_wire([good._replace(x509_svid=good.x509_svid[:-10])], {})


def test_reject_empty_chain(root: Ca) -> None:
    with pytest.raises(SvidError, match="has no certificates"):
        X509Context.from_wire([wire_svid(root, ID)._replace(x509_svid=b"")], {})


def test_reject_missing_bundle(root: Ca) -> None:
    with pytest.raises(SvidError, match=r"no bundle for trust domain 'example.org'"):
        X509Context.from_wire([wire_svid(root, ID, bundle=b"")], {})


def test_reject_chain_that_does_not_reach_the_bundle(root: Ca) -> None:
    stranger = make_ca()
    with pytest.raises(SvidError, match="does not verify to the bundle"):
        X509Context.from_wire([wire_svid(root, ID, bundle=der(stranger.cert))], {})


def test_reject_intermediate_that_is_not_a_ca(root: Ca) -> None:
    fake = make_ca(parent=root, ca=False, cn="not-a-ca")
    leaf, key = make_leaf(fake, ID)
    with pytest.raises(SvidError, match="intermediate certificate 1 is not a signing CA"):
        X509Context.from_wire([wire_svid(root, ID, chain=(leaf, fake.cert), key=key)], {})


def test_reject_chain_in_the_wrong_order(root: Ca) -> None:
    inter = make_ca(parent=root, cn="intermediate")
    other_inter = make_ca(parent=root, cn="other-intermediate")
    leaf, key = make_leaf(inter, ID)
    with pytest.raises(SvidError, match="certificate 0 is not signed by certificate 1"):
        X509Context.from_wire([wire_svid(root, ID, chain=(leaf, other_inter.cert), key=key)], {})


def test_reject_expired_intermediate(root: Ca) -> None:
    inter = make_ca(parent=root, cn="old", not_before=NOW - 3 * HOUR, not_after=NOW - HOUR)
    leaf, key = make_leaf(inter, ID)
    with pytest.raises(SvidError, match="certificate 1 has expired"):
        X509Context.from_wire([wire_svid(root, ID, chain=(leaf, inter.cert), key=key)], {})


def test_reject_invalid_spiffe_id_field(root: Ca) -> None:
    with pytest.raises(SvidError, match="invalid SPIFFE ID"):
        X509Context.from_wire([wire_svid(root, ID)._replace(spiffe_id="https://example.org/x")], {})


def test_reject_unparsable_federated_bundle(root: Ca) -> None:
    with pytest.raises(SvidError, match=r"bundle for trust domain 'fed.example'"):
        X509Context.from_wire([wire_svid(root, ID)], {"spiffe://fed.example": b"\x30\x82\xff\xffjunk"})


def test_reject_empty_federated_bundle(root: Ca) -> None:
    with pytest.raises(SvidError, match="is empty"):
        X509Context.from_wire([wire_svid(root, ID)], {"spiffe://fed.example": b""})


def test_one_bad_svid_rejects_the_whole_context(root: Ca) -> None:
    good = wire_svid(root, "spiffe://example.org/a")
    bad = wire_svid(root, "spiffe://example.org/b", key=new_key())
    leaf, _ = make_leaf(root, "spiffe://example.org/b")
    bad = bad._replace(x509_svid=der(leaf))
    with pytest.raises(SvidError, match="private key does not match"):
        X509Context.from_wire([good, bad], {})


def test_validation_uses_the_given_time(root: Ca) -> None:
    svid = wire_svid(root, ID)
    X509Context.from_wire([svid], {}, now=NOW)
    with pytest.raises(SvidError, match="has expired"):
        X509Context.from_wire([svid], {}, now=NOW + dt.timedelta(days=2))


def test_spiffe_id_of_reads_the_single_uri_san(root: Ca) -> None:
    leaf, _ = make_leaf(root, ID)
    assert spiffe_id_of(leaf) == SpiffeId.parse(ID)
    assert isinstance(leaf, x509.Certificate)


def _corrupt_san_tag(cert_der: bytes, uri: str) -> bytes:
    """The leaf with its URI SAN's tag changed: it still loads, the SAN extension fails when read (lazily)."""
    i = cert_der.index(uri.encode())
    assert cert_der[i - 2] == 0x86  # [6] IA5String, short length
    return cert_der[: i - 2] + b"\x04" + cert_der[i - 1 :]


def test_reject_corrupt_extension_as_svid_error(root: Ca) -> None:
    leaf, key = make_leaf(root, ID)
    good = wire_svid(root, ID, chain=(leaf,), key=key)
    with pytest.raises(SvidError):
        X509Context.from_wire([good._replace(x509_svid=_corrupt_san_tag(der(leaf), ID))], {})


def test_reject_key_on_unknown_curve_as_svid_error(root: Ca) -> None:
    good = wire_svid(root, ID)
    key = good.x509_svid_key
    j = key.index(bytes.fromhex("2a8648ce3d030107"))  # prime256v1 OID -> 1.2.840.10045.3.1.8 (unknown)
    with pytest.raises(SvidError):
        X509Context.from_wire([good._replace(x509_svid_key=key[: j + 7] + b"\x08" + key[j + 8 :])], {})


def test_preload_verification_loads_what_the_first_signature_check_would() -> None:
    """What a first validation imports is exactly what the one-shot run preloads while the agent answers."""
    code = (
        "import sys\n"
        "from tests.pki import Pki\n"
        "from spiffe_helper.svid import X509Context, preload_verification\n"
        "wire = Pki.create().wire()\n"  # signing loads the backend too: compare against a clean snapshot
        "for m in [m for m in sys.modules if m.startswith('cryptography.hazmat.backends')]: del sys.modules[m]\n"
        "before = set(sys.modules)\n"
        "X509Context.from_wire([wire], {})\n"
        "validation = set(sys.modules) - before\n"
        "for m in validation: del sys.modules[m]\n"
        "preload_verification()\n"
        "print(sorted(validation - (set(sys.modules) - before)), bool(validation))\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root).stdout
    assert out.strip() == "[] True"


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_keys_in_other_der_formats_are_rejected_as_go_does(kind: str) -> None:
    """cryptography's loader also reads SEC1 (EC) and PKCS#1 (RSA) DER; the Workload API sends PKCS#8 and the
    key file says PRIVATE KEY (PKCS#8), so anything else is a malformed SVID, as go-spiffe decides."""
    from cryptography.hazmat.primitives import serialization

    root = make_ca()
    leaf, leaf_key = make_leaf(root, ID, key=new_key(kind))
    good = wire_svid(root, ID, chain=(leaf,), key=leaf_key)
    key = serialization.load_der_private_key(good.x509_svid_key, None)
    other = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    assert serialization.load_der_private_key(other, None) is not None  # loadable, just not PKCS#8
    with pytest.raises(SvidError, match="private key is not unencrypted PKCS#8 DER"):
        X509Context.from_wire([good._replace(x509_svid_key=other)], {})
    assert X509Context.from_wire([good], {}).default_svid.key_der == good.x509_svid_key


@pytest.mark.parametrize(
    ("blob", "expected"),
    [
        (b"", False),
        (b"\x30\x00", False),
        (b"\x30\x03\x02\x01\x00", False),  # version only
        (b"\x30\x05\x02\x01\x00\x30\x00", True),
        (b"\x30\x05\x02\x01\x00\x04\x00", False),  # SEC1 shape: an OCTET STRING after the version
        (b"\x30\x06\x02\x01\x00\x30\x00\x00", True),  # what follows the algorithm is the loader's to judge
        (b"\x30\x05\x02\x01\x00\x30\x00\x00", False),
        (b"\x30\x85\x00\x00\x00\x00\x05\x02\x01\x00\x30\x00", False),  # length of length > 4
    ],
)
def test_is_pkcs8_shape(blob: bytes, expected: bool) -> None:
    assert is_pkcs8(blob) is expected
