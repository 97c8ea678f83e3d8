"""Dev agent certificate profiles and JWT minting, checked with cryptography's own verifier."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store

from spiffe_helper.devagent.ca import Issuer, issue_leaf, make_intermediate, make_root
from spiffe_helper.devagent.jwtsvid import JwtKey, JwtSvidCache, jwks_json, mint
from spiffe_helper.devagent.keys import KeyType, generate_key
from spiffe_helper.errors import SvidError
from spiffe_helper.jwt import JwtBundleSet, validate_jwt_svid
from spiffe_helper.spiffeid import TrustDomain

TD = TrustDomain("coastal-containers.example")
ID = "spiffe://coastal-containers.example/manifest/workload/server"


def _issuers(kind: KeyType, intermediate: bool) -> tuple[x509.Certificate, Issuer]:
    key = generate_key(kind)
    root = make_root(TD, key, time.time(), 3600)
    issuer = Issuer(root, key)
    if intermediate:
        ikey = generate_key(kind)
        inter = make_intermediate(TD, ikey, issuer, time.time())
        issuer = Issuer(inter, ikey, (inter,))
    return root, issuer


@pytest.mark.parametrize("kind", ["ec", "rsa"])
@pytest.mark.parametrize("intermediate", [False, True])
def test_leaf_profile_and_chain_verify(kind: KeyType, intermediate: bool) -> None:
    root, issuer = _issuers(kind, intermediate)
    leaf_key = generate_key(kind)
    leaf = issue_leaf(ID, leaf_key.public_key(), issuer, time.time(), 60)
    verified = PolicyBuilder().store(Store([root])).build_client_verifier().verify(leaf, list(issuer.chain))
    assert verified.subjects == [x509.UniformResourceIdentifier(ID)]
    assert len(verified.chain) == (3 if intermediate else 2)

    bc = leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    ku = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature
    assert not ku.value.key_cert_sign and not ku.value.crl_sign
    assert ku.value.key_encipherment is (kind == "rsa")
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [ID]
    assert isinstance(leaf.public_key(), rsa.RSAPublicKey if kind == "rsa" else ec.EllipticCurvePublicKey)


def test_ca_certificates_carry_trust_domain_without_path() -> None:
    root, issuer = _issuers("ec", True)
    for cert in (root, issuer.cert):
        assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
        uris = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert uris.get_values_for_type(x509.UniformResourceIdentifier) == [TD.id_string]


def test_leaf_is_backdated_and_capped_by_issuer() -> None:
    key = generate_key("ec")
    now = time.time()
    root = make_root(TD, key, now, 30)
    leaf = issue_leaf(ID, generate_key("ec").public_key(), Issuer(root, key), now, 3600)
    assert leaf.not_valid_after_utc == root.not_valid_after_utc
    assert leaf.not_valid_before_utc <= dt.datetime.fromtimestamp(now - 9, dt.UTC)


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_jwt_svid_verifies_against_jwks_independently() -> None:
    key = JwtKey.generate(time.time() + 3600)
    token = mint(ID, ["svc-a", "svc-b"], key, time.time(), time.time() + 30)
    header_b64, claims_b64, sig_b64 = token.split(".")
    header, claims = json.loads(_b64(header_b64)), json.loads(_b64(claims_b64))
    assert header == {"alg": "ES256", "kid": key.kid, "typ": "JWT"}
    assert claims["sub"] == ID and claims["aud"] == ["svc-a", "svc-b"] and claims["exp"] > time.time()

    (jwk,) = json.loads(jwks_json([key]))["keys"]
    assert set(jwk) == {"kty", "kid", "crv", "x", "y", "use"}
    assert (jwk["kty"], jwk["crv"], jwk["use"], jwk["kid"]) == ("EC", "P-256", "jwt-svid", key.kid)
    public = ec.EllipticCurvePublicNumbers(
        int.from_bytes(_b64(jwk["x"]), "big"), int.from_bytes(_b64(jwk["y"]), "big"), ec.SECP256R1()
    ).public_key()
    raw = _b64(sig_b64)
    assert len(raw) == 64
    signature = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public.verify(signature, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))


def test_jwt_svid_passes_project_validator_and_fails_on_other_key() -> None:
    key, other = JwtKey.generate(time.time() + 3600), JwtKey.generate(time.time() + 3600)
    token = mint(ID, ["svc"], key, time.time(), time.time() + 30)
    bundles = JwtBundleSet.from_wire({TD.id_string: jwks_json([key])})
    assert str(validate_jwt_svid(token, bundles, "svc").spiffe_id) == ID
    with pytest.raises(SvidError):
        validate_jwt_svid(token, JwtBundleSet.from_wire({TD.id_string: jwks_json([other])}), "svc")


def test_jwt_cache_reuses_until_half_life_and_key_change() -> None:
    cache = JwtSvidCache()
    key = JwtKey.generate(time.time() + 3600)
    now = time.time()
    first, minted = cache.get(ID, ("a",), key, 10, now)
    assert minted
    assert cache.get(ID, ("a",), key, 10, now + 4) == (first, False)
    assert cache.get(ID, ("a",), key, 10, now + 6)[1] is True
    assert cache.get(ID, ("b",), key, 10, now + 6)[1] is True
    new_key = JwtKey.generate(time.time() + 3600)
    assert cache.get(ID, ("a",), new_key, 10, now + 6)[1] is True
