"""``spiffe-helper inspect``: reports what is on disk, finds broken pairs and chains, never prints secrets."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
from pathlib import Path

from click.testing import CliRunner

from spiffe_helper.config.model import Config, JwtSvidConfig
from spiffe_helper.inspect import inspect, verify_chain
from spiffe_helper.jwt import JwtBundleSet, JwtSvid
from spiffe_helper.store.render import pem_private_key
from spiffe_helper.store.writer import CredentialWriter
from tests.pki import NOW, Pki, jwk, jwks, jwt_key, make_leaf, make_root, mint, pem

X509 = {"svid_file_name": "svid.pem", "svid_key_file_name": "svid_key.pem", "svid_bundle_file_name": "bundle.pem"}


def _write_all(d: Path) -> tuple[Pki, str]:
    pki = Pki.create(intermediate=True)
    kid, key = jwt_key()
    cfg = Config(
        cert_dir=str(d),
        jwt_bundle_file_name="jwt_bundle.json",
        jwt_svids=(JwtSvidConfig("aud", (), "token.jwt"),),
        **X509,
    )
    w = CredentialWriter(cfg)
    w.write_x509(pki.context())
    w.write_jwt_bundles(JwtBundleSet.from_wire({"example.org": jwks(jwk(key, kid))}))
    token = mint(kid, key, "spiffe://example.org/w", ["aud", "x"], dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5))
    w.write_jwt_svid("token.jwt", JwtSvid.parse(token))
    return pki, token


def _run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(inspect, list(args), standalone_mode=False)
    assert res.exception is None, res.exception
    return int(res.return_value), res.output


def test_directory_report_text(tmp_path: Path) -> None:
    _, token = _write_all(tmp_path)
    code, out = _run(str(tmp_path))
    assert code == 0, out
    assert "(atomic_dir layout, generation .." in out
    assert "svid.pem: X.509-SVID spiffe://example.org/workload" in out
    assert "chain        2 certificate(s); verifies to bundle bundle.pem: yes" in out
    assert "key          svid_key.pem matches: yes" in out
    # The PKI is built at import time with a 1 h lifetime; the suite may have run for a while since.
    assert re.search(r"expires in (1h0m|[1-5]?[0-9]m)", out), out
    assert "token.jwt: JWT-SVID spiffe://example.org/w aud=aud,x expires in 4m" in out
    assert "jwt_bundle.json: JWT bundle, example.org (1 key(s))" in out
    assert "PRIVATE" not in out and token not in out


def test_directory_report_json(tmp_path: Path) -> None:
    _, token = _write_all(tmp_path)
    code, out = _run(str(tmp_path), "--json")
    doc = json.loads(out)
    assert code == 0 and doc["ok"] is True
    [svid] = doc["x509_svids"]
    assert svid["spiffe_id"] == "spiffe://example.org/workload"
    assert svid["chain_verifies"] is True and svid["key_matches"] is True
    assert svid["bundle_file"] == "bundle.pem" and svid["key_file"] == "svid_key.pem"
    assert 0 < svid["expires_in_seconds"] <= 3600  # the PKI is built at import time, 1 h lifetime
    assert int(svid["serial"], 16) > 0
    assert doc["layout"] == "atomic_dir"
    assert doc["jwt_svids"][0]["audience"] == ["aud", "x"]
    assert token not in out


def test_mismatched_key_and_foreign_bundle_fail(tmp_path: Path) -> None:
    pki = Pki.create()
    a, b = pki.context().default_svid, pki.context().default_svid
    (tmp_path / "svid.pem").write_bytes(pem(a.certificates))
    (tmp_path / "svid_key.pem").write_bytes(pem_private_key(b.private_key))
    (tmp_path / "bundle.pem").write_bytes(pem([make_root("example.org").cert]))  # another CA
    code, out = _run(str(tmp_path), "--json")
    doc = json.loads(out)
    assert code == 1 and doc["ok"] is False
    [svid] = doc["x509_svids"]
    assert svid["key_matches"] is False
    assert svid["chain_verifies"] is False and svid["chain_error"] == "does not chain to the bundle"
    assert doc["layout"] == "plain"


def test_expired_certificate_is_reported(tmp_path: Path) -> None:
    pki = Pki.create()
    leaf, leaf_key = make_leaf(pki.root, "spiffe://example.org/old", not_after=NOW - dt.timedelta(minutes=1))
    (tmp_path / "svid.pem").write_bytes(pem([leaf]))
    (tmp_path / "key.pem").write_bytes(pem_private_key(leaf_key))
    (tmp_path / "ca.pem").write_bytes(pem([pki.root.cert]))
    code, out = _run(str(tmp_path))
    assert code == 1
    assert "EXPIRED" in out and "certificate 0 has expired" in out


def test_config_file_names_the_files(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    _write_all(certs)
    conf = tmp_path / "helper.conf"
    conf.write_text(
        f'cert_dir = "{certs}"\nsvid_file_name = "svid.pem"\nsvid_key_file_name = "svid_key.pem"\n'
        'svid_bundle_file_name = "bundle.pem"\njwt_bundle_file_name = "jwt_bundle.json"\n'
        'jwt_svids = [{jwt_audience = "aud", jwt_svid_file_name = "token.jwt"}]\n'
    )
    code, out = _run(str(conf))
    assert code == 0, out
    assert f"{certs}/svid_key.pem matches: yes" in out
    (certs / "token.jwt").unlink()
    code, out = _run(str(conf))
    assert code == 1 and f"error: {certs}/token.jwt: missing" in out


def test_bad_config_is_one_line(tmp_path: Path) -> None:
    conf = tmp_path / "helper.conf"
    conf.write_text("svid_file_name = \n")
    res = CliRunner().invoke(inspect, [str(conf)], standalone_mode=False)
    assert res.return_value == 1
    assert res.output.count("\n") == 1 and res.output.startswith("spiffe-helper inspect: ")


def test_empty_directory(tmp_path: Path) -> None:
    code, out = _run(str(tmp_path))
    assert code == 1 and "no credentials found" in out


def test_verify_chain_agrees_with_openssl(tmp_path: Path) -> None:
    pki = Pki.create(intermediate=True)
    assert pki.intermediate is not None
    leaf, _ = make_leaf(pki.intermediate, "spiffe://example.org/w")
    for bundle, expected in (([pki.root.cert, pki.intermediate.cert], ""), ([pki.root.cert], "x")):
        (tmp_path / "ca.pem").write_bytes(pem(bundle))
        (tmp_path / "leaf.pem").write_bytes(pem([leaf]))
        ours = verify_chain([leaf], bundle, dt.datetime.now(dt.UTC))
        proc = subprocess.run(
            ["openssl", "verify", "-CAfile", str(tmp_path / "ca.pem"), str(tmp_path / "leaf.pem")], capture_output=True
        )
        assert (ours == "") == (proc.returncode == 0) == (expected == "")
