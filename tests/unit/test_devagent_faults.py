"""The ten fault builders: each spoils exactly one thing, and the project's validator rejects it."""

from __future__ import annotations

import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from spiffe_helper.der import split_der
from spiffe_helper.devagent.authority import Authority
from spiffe_helper.devagent.ca import IssuedSvid, issue_leaf
from spiffe_helper.devagent.faults import FAULTS, OVERSIZE_BYTES
from spiffe_helper.devagent.hub import Kind
from spiffe_helper.devagent.keys import generate_key
from spiffe_helper.devagent.snapshots import SnapshotBuilder
from spiffe_helper.errors import SvidError
from spiffe_helper.spiffeid import TrustDomain
from spiffe_helper.svid import WireX509Svid, X509Context
from spiffe_helper.workload._proto import workload_pb2 as pb

TD = TrustDomain("td.example")
ID = "spiffe://td.example/workload"


def _good(intermediate: bool) -> tuple[pb.X509SVIDResponse, Authority]:
    auth = Authority(TD, ca_ttl=3600, intermediate=intermediate)
    auth.open()
    key = generate_key("ec")
    issuer = auth.active_issuer
    leaf = issue_leaf(ID, key.public_key(), issuer, time.time(), 600)
    svid = IssuedSvid(ID, "h", leaf, key, issuer.chain, time.time())
    snapshot = SnapshotBuilder(TD).build("s", [svid], {TD: auth})
    return snapshot.messages[Kind.X509], auth


def _context(response: pb.X509SVIDResponse) -> X509Context:
    wires = [WireX509Svid(s.spiffe_id, s.x509_svid, s.x509_svid_key, s.bundle, s.hint) for s in response.svids]
    return X509Context.from_wire(wires, dict(response.federated_bundles))


def _leaf(response: pb.X509SVIDResponse) -> x509.Certificate:
    return x509.load_der_x509_certificate(split_der(response.svids[0].x509_svid, "svid")[0])


def _uris(cert: x509.Certificate) -> list[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return san.get_values_for_type(x509.UniformResourceIdentifier)


def _signed_by_issuer(bad: pb.X509SVIDResponse, auth: Authority) -> bool:
    _leaf(bad).verify_directly_issued_by(auth.active_issuer.cert)
    return True


def _spki(key: object) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)  # type: ignore[attr-defined, no-any-return]


def _check_defect(name: str, bad: pb.X509SVIDResponse, good: pb.X509SVIDResponse, auth: Authority) -> None:
    """Assert that ``bad`` has exactly the defect its fault name promises."""
    b, g = (bad.svids[0] if bad.svids else None), good.svids[0]
    if name == "empty_svid_list":
        assert len(bad.svids) == 0 and bad.federated_bundles == good.federated_bundles
        return
    assert b is not None
    if name == "garbage_der":
        assert 0 < len(b.x509_svid) < len(g.x509_svid) and g.x509_svid.startswith(b.x509_svid)
    elif name == "key_mismatch":
        assert b.x509_svid == g.x509_svid
        assert _spki(serialization.load_der_private_key(b.x509_svid_key, None).public_key()) != _spki(
            _leaf(bad).public_key()
        )
    elif name == "spiffe_id_mismatch":
        assert b.x509_svid == g.x509_svid and b.spiffe_id != _uris(_leaf(bad))[0]
    elif name in ("two_uri_sans", "ca_leaf", "expired_svid"):
        _leaf(bad).verify_directly_issued_by(auth.active_issuer.cert)  # still chains: only the profile is wrong
        leaf = _leaf(bad)
        if name == "two_uri_sans":
            assert len(_uris(leaf)) == 2
        elif name == "ca_leaf":
            assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        else:
            assert leaf.not_valid_after_utc.timestamp() < time.time()
    elif name == "missing_bundle":
        assert b.bundle == b"" and TD.id_string not in bad.federated_bundles
    elif name == "unchained_bundle":
        assert b.x509_svid == g.x509_svid and b.bundle and b.bundle != g.bundle
    elif name == "oversized_message":
        assert bad.ByteSize() > 4 * 1024 * 1024 and OVERSIZE_BYTES > 4 * 1024 * 1024
    else:
        raise AssertionError(f"no check for fault {name}")


def test_there_are_exactly_the_ten_documented_faults() -> None:
    assert len(FAULTS) == 10


@pytest.mark.parametrize("intermediate", [False, True])
@pytest.mark.parametrize("name", sorted(FAULTS))
def test_fault_has_its_defect_and_leaves_good_untouched(name: str, intermediate: bool) -> None:
    good, auth = _good(intermediate)
    before = good.SerializeToString()
    _context(good)  # the good one is valid
    bad = FAULTS[name](good, auth.active_issuer, 0)
    assert good.SerializeToString() == before
    _check_defect(name, bad, good, auth)
    if intermediate and name in ("two_uri_sans", "ca_leaf", "expired_svid"):
        assert split_der(bad.svids[0].x509_svid, "svid")[1:] == split_der(good.svids[0].x509_svid, "svid")[1:]
    if name != "oversized_message":  # that one is valid content; gRPC rejects it on size
        with pytest.raises(SvidError):
            _context(bad)
