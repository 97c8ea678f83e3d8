"""Self-checks of the store tests' PKI shortcuts in :mod:`tests.pki`."""

from __future__ import annotations

import datetime as dt

from spiffe_helper.jwt import JwtBundleSet, JwtSvid, validate_jwt_svid
from tests.pki import NOW, Pki, jwk, jwks, jwt_key, mint


def test_pki_builds_valid_contexts() -> None:
    pki = Pki.create(intermediate=True)
    ctx = pki.context()
    assert str(ctx.default_svid.spiffe_id) == "spiffe://example.org/workload"
    assert len(ctx.default_svid.certificates) == 2


def test_minted_token_validates() -> None:
    kid, key = jwt_key()
    token = mint(kid, key, "spiffe://example.org/w", ["a"], NOW + dt.timedelta(minutes=5))
    bundles = JwtBundleSet.from_wire({"example.org": jwks(jwk(key, kid))})
    svid = validate_jwt_svid(token, bundles, "a")
    assert isinstance(svid, JwtSvid)
