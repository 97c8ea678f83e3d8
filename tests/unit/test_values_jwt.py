"""JWT-SVIDs and JWT bundles (spiffe_helper/jwt.py) with tokens signed independently in tests.pki."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from spiffe_helper.errors import SvidError
from spiffe_helper.jwt import JwtBundle, JwtBundleSet, JwtSvid, b64url_decode, validate_jwt_svid
from spiffe_helper.spiffeid import SpiffeId, TrustDomain
from tests.pki import NOW, Key, b64url, claims, jwk, jwks, new_key, sign_jwt

TD = TrustDomain("example.org")


@pytest.fixture(scope="module")
def ec_key() -> Key:
    return new_key()


@pytest.fixture(scope="module")
def rsa_key() -> Key:
    return new_key("rsa")


def _bundles(*keys: tuple[Key, str]) -> JwtBundleSet:
    return JwtBundleSet.from_wire({"spiffe://example.org": jwks(*(jwk(k, kid) for k, kid in keys))})


# ----- signature algorithms -----


@pytest.mark.parametrize("alg", ["ES256"])
def test_es256_token_validates(ec_key: Key, alg: str) -> None:
    token = sign_jwt(ec_key, claims(aud=["aud-1", "aud-2"]), alg=alg)
    svid = validate_jwt_svid(token, _bundles((ec_key, "kid-1")), "aud-2", hint="h")
    assert svid.spiffe_id == SpiffeId.parse("spiffe://example.org/workload")
    assert svid.audience == ("aud-1", "aud-2")
    assert svid.hint == "h" and svid.token == token
    assert svid.expiry == dt.datetime.fromtimestamp(claims()["exp"], dt.UTC)


@pytest.mark.parametrize("alg", ["RS256", "PS256", "RS512", "PS384"])
def test_rsa_tokens_validate(rsa_key: Key, alg: str) -> None:
    token = sign_jwt(rsa_key, claims(), alg=alg)
    assert validate_jwt_svid(token, _bundles((rsa_key, "kid-1")), "aud-1").audience == ("aud-1",)


def test_es384_with_p384_key_validates() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    token = sign_jwt(key, claims(), alg="ES384")
    validate_jwt_svid(token, _bundles((key, "kid-1")), "aud-1")


def test_tampered_claims_fail_the_signature(ec_key: Key) -> None:
    head, _, sig = sign_jwt(ec_key, claims()).split(".")
    forged = f"{head}.{b64url(json.dumps(claims(sub='spiffe://example.org/admin')).encode())}.{sig}"
    with pytest.raises(SvidError, match="signature is invalid") as err:
        validate_jwt_svid(forged, _bundles((ec_key, "kid-1")), "aud-1")
    assert sig not in str(err.value) and forged not in str(err.value)


def test_signature_by_another_key_fails(ec_key: Key) -> None:
    token = sign_jwt(new_key(), claims())
    with pytest.raises(SvidError, match="signature is invalid"):
        validate_jwt_svid(token, _bundles((ec_key, "kid-1")), "aud-1")


def test_es_alg_with_an_rsa_key_fails(rsa_key: Key, ec_key: Key) -> None:
    token = sign_jwt(ec_key, claims(), alg="ES256")
    with pytest.raises(SvidError, match="signature is invalid"):
        validate_jwt_svid(token, _bundles((rsa_key, "kid-1")), "aud-1")


@pytest.mark.parametrize("alg", ["none", "HS256", "EdDSA", None])
def test_disallowed_algorithms(ec_key: Key, alg: str | None) -> None:
    token = sign_jwt(ec_key, claims(), header={"alg": alg})
    with pytest.raises(SvidError, match=r"algorithm .* is not allowed"):
        validate_jwt_svid(token, _bundles((ec_key, "kid-1")), "aud-1")


def test_bad_typ_rejected_and_jose_accepted(ec_key: Key) -> None:
    bundles = _bundles((ec_key, "kid-1"))
    validate_jwt_svid(sign_jwt(ec_key, claims(), header={"typ": "JOSE"}), bundles, "aud-1")
    with pytest.raises(SvidError, match="typ"):
        validate_jwt_svid(sign_jwt(ec_key, claims(), header={"typ": "at+jwt"}), bundles, "aud-1")


# ----- claims, kid, bundles -----


def test_expired_beyond_leeway_is_rejected(ec_key: Key) -> None:
    token = sign_jwt(ec_key, claims(exp_in=-120))
    with pytest.raises(SvidError, match="has expired"):
        validate_jwt_svid(token, _bundles((ec_key, "kid-1")), "aud-1", now=NOW)


def test_expired_within_leeway_is_accepted(ec_key: Key) -> None:
    token = sign_jwt(ec_key, claims(exp_in=-30))
    validate_jwt_svid(token, _bundles((ec_key, "kid-1")), "aud-1", now=NOW)
    with pytest.raises(SvidError, match="has expired"):
        validate_jwt_svid(token, _bundles((ec_key, "kid-1")), "aud-1", now=NOW, leeway=dt.timedelta(0))


def test_wrong_audience(ec_key: Key) -> None:
    token = sign_jwt(ec_key, claims(aud=["aud-1"]))
    with pytest.raises(SvidError, match="audience does not include 'other'"):
        validate_jwt_svid(token, _bundles((ec_key, "kid-1")), "other")


def test_wrong_kid(ec_key: Key) -> None:
    token = sign_jwt(ec_key, claims(), kid="kid-2")
    with pytest.raises(SvidError, match="key id 'kid-2' is not in the bundle"):
        validate_jwt_svid(token, _bundles((ec_key, "kid-1")), "aud-1")


def test_missing_kid(ec_key: Key) -> None:
    token = sign_jwt(ec_key, claims(), kid=None)
    with pytest.raises(SvidError, match="key id None"):
        validate_jwt_svid(token, _bundles((ec_key, "kid-1")), "aud-1")


def test_kid_selects_among_several_keys(ec_key: Key, rsa_key: Key) -> None:
    bundles = _bundles((rsa_key, "r"), (ec_key, "e"))
    validate_jwt_svid(sign_jwt(ec_key, claims(), kid="e"), bundles, "aud-1")
    validate_jwt_svid(sign_jwt(rsa_key, claims(), alg="RS256", kid="r"), bundles, "aud-1")


def test_subject_of_another_trust_domain_needs_its_bundle(ec_key: Key) -> None:
    token = sign_jwt(ec_key, claims(sub="spiffe://other.example/x"))
    with pytest.raises(SvidError, match=r"no JWT bundle for trust domain 'other.example'"):
        validate_jwt_svid(token, _bundles((ec_key, "kid-1")), "aud-1")
    fed = JwtBundleSet.from_wire({"other.example": jwks(jwk(ec_key, "kid-1"))})
    assert validate_jwt_svid(token, fed, "aud-1").spiffe_id.trust_domain.name == "other.example"


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({"aud": "a", "exp": 2_000_000_000}, "'sub'"),
        ({"sub": "spiffe://example.org/w", "exp": 2_000_000_000}, "'aud'"),
        ({"sub": "spiffe://example.org/w", "aud": [], "exp": 2_000_000_000}, "'aud'"),
        ({"sub": "spiffe://example.org/w", "aud": [1], "exp": 2_000_000_000}, "'aud'"),
        ({"sub": "spiffe://example.org/w", "aud": "a"}, "'exp'"),
        ({"sub": "spiffe://example.org/w", "aud": "a", "exp": True}, "'exp'"),
        ({"sub": "spiffe://example.org/w", "aud": "a", "exp": "soon"}, "'exp'"),
        ({"sub": "https://example.org/w", "aud": "a", "exp": 2_000_000_000}, "invalid SPIFFE ID"),
    ],
)
def test_parse_rejects_bad_claims(ec_key: Key, body: dict[str, object], match: str) -> None:
    with pytest.raises(SvidError, match=match):
        JwtSvid.parse(sign_jwt(ec_key, body))


@pytest.mark.parametrize(
    ("token", "match"),
    [
        ("a.b", "compact serialization"),
        ("a.b.c.d", "compact serialization"),
        ("!!!.e30.sig", "base64url|JSON"),
        (f"{b64url(b'[1]')}.{b64url(b'{}')}.sig", "header is not a JSON object"),
        (f"{b64url(b'{}')}.{b64url(b'not json')}.sig", "malformed JSON in claims"),
    ],
)
def test_parse_rejects_malformed_tokens(token: str, match: str) -> None:
    with pytest.raises(SvidError, match=match):
        JwtSvid.parse(token)


def test_parse_does_not_check_the_signature(ec_key: Key) -> None:
    head, body, _ = sign_jwt(ec_key, claims()).split(".")
    svid = JwtSvid.parse(f"{head}.{body}.{b64url(b'nonsense')}", "hint")
    assert svid.hint == "hint" and svid.header["kid"] == "kid-1"
    assert "token" not in repr(svid) and body not in repr(svid)


def test_b64url_decode_accepts_unpadded_and_rejects_junk() -> None:
    assert b64url_decode(b64url(b"hello!")) == b"hello!"
    with pytest.raises(SvidError):
        b64url_decode("a")


# ----- bundles -----


def test_jwks_ignores_other_uses_missing_kid_unknown_kty_and_broken_keys(ec_key: Key, rsa_key: Key) -> None:
    doc = jwks(
        jwk(ec_key, "good-ec"),
        jwk(rsa_key, "good-rsa", use="jwt-svid"),
        jwk(ec_key, "x509", use="x509-svid"),
        jwk(ec_key, None),
        {"kty": "OKP", "crv": "Ed25519", "x": "abc", "kid": "okp"},
        {"kty": "EC", "crv": "P-999", "x": "AA", "y": "AA", "kid": "bad-curve"},
        {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "kid": "not-on-curve"},
        {"kty": "RSA", "kid": "no-n"},
        "not an object",
    )
    bundle = JwtBundle.from_jwks(TD, doc)
    assert sorted(bundle.keys) == ["good-ec", "good-rsa"]
    assert isinstance(bundle.keys["good-ec"], ec.EllipticCurvePublicKey)
    assert isinstance(bundle.keys["good-rsa"], rsa.RSAPublicKey)
    assert bundle.jwks == doc
    assert "jwks" not in repr(bundle) and "good-ec" in repr(bundle)
    with pytest.raises(AttributeError):
        bundle.jwks = b"{}"  # type: ignore[misc]


def test_empty_keys_list_is_a_valid_bundle_that_trusts_nothing(ec_key: Key) -> None:
    bundles = JwtBundleSet.from_wire({"example.org": b'{"keys": []}'})
    with pytest.raises(SvidError, match="not in the bundle"):
        validate_jwt_svid(sign_jwt(ec_key, claims()), bundles, "aud-1")


@pytest.mark.parametrize(("doc", "match"), [(b"{}", "no 'keys' list"), (b"[]", "not a JSON object"), (b"{", "JSON")])
def test_malformed_jwks(doc: bytes, match: str) -> None:
    with pytest.raises(SvidError, match=match):
        JwtBundle.from_jwks(TD, doc)


def test_bundle_set_keys_in_both_forms(ec_key: Key) -> None:
    doc = jwks(jwk(ec_key))
    bundles = JwtBundleSet.from_wire({"spiffe://example.org": doc, "other.example": doc})
    assert set(bundles.bundles) == {TD, TrustDomain("other.example")}
    with pytest.raises(SvidError):
        JwtBundleSet.from_wire({"spiffe://Bad_TD": doc})


def test_es256_with_a_p384_key_is_rejected() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    token = sign_jwt(key, claims(), alg="ES256")  # signed with SHA-256 on P-384: not a valid ES256 JWS
    with pytest.raises(SvidError):
        validate_jwt_svid(token, _bundles((key, "kid-1")), "aud-1")
