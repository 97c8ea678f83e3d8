"""CredentialWriter on real files: what is written where, unchanged detection, names, directories."""

from __future__ import annotations

import datetime as dt
import logging
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from spiffe_helper.config.model import Config, JwtSvidConfig
from spiffe_helper.errors import ConfigError, SvidError, WriteError
from spiffe_helper.jwt import JwtBundleSet, JwtSvid
from spiffe_helper.store import atomic
from spiffe_helper.store.writer import CredentialWriter
from tests.pki import NOW, Pki, jwk, jwks, jwt_key, mint, pem

X509 = dict(svid_file_name="svid.pem", svid_key_file_name="svid_key.pem", svid_bundle_file_name="bundle.pem")


def _config(cert_dir: Path, **kw: Any) -> Config:
    return Config(cert_dir=str(cert_dir), **{**X509, **kw})


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _data_gen(d: Path) -> str:
    return os.readlink(d / "..data")


def test_atomic_dir_writes_all_three_files_and_reports_changes(tmp_path: Path) -> None:
    pki = Pki.create(intermediate=True)
    w = CredentialWriter(_config(tmp_path))
    w.prepare()
    ctx = pki.context()
    res = w.write_x509(ctx)
    assert res.changed and res.spiffe_id == "spiffe://example.org/workload"
    assert res.paths == tuple(str(tmp_path / n) for n in ("bundle.pem", "svid_key.pem", "svid.pem"))
    assert (tmp_path / "svid.pem").read_bytes() == pem(ctx.default_svid.certificates)
    assert (tmp_path / "bundle.pem").read_bytes() == pem([pki.root.cert])
    key = serialization.load_pem_private_key((tmp_path / "svid_key.pem").read_bytes(), None)
    assert key.public_key() == ctx.default_svid.leaf.public_key()
    assert (_mode(tmp_path / "svid.pem"), _mode(tmp_path / "svid_key.pem"), _mode(tmp_path / "bundle.pem")) == (
        0o644,
        0o600,
        0o644,
    )
    assert all(os.path.islink(tmp_path / n) for n in X509.values())


def test_same_context_again_is_unchanged_and_not_rewritten(tmp_path: Path) -> None:
    w = CredentialWriter(_config(tmp_path))
    ctx = Pki.create().context()
    w.write_x509(ctx)
    gen = _data_gen(tmp_path)
    again = w.write_x509(ctx)
    assert again.changed is False
    assert _data_gen(tmp_path) == gen
    # A new writer (a restart) also sees the files as unchanged.
    assert CredentialWriter(_config(tmp_path)).write_x509(ctx).changed is False
    assert _data_gen(tmp_path) == gen


def test_new_svid_swaps_generation(tmp_path: Path) -> None:
    pki = Pki.create()
    w = CredentialWriter(_config(tmp_path))
    w.write_x509(pki.context())
    gen = _data_gen(tmp_path)
    ctx2 = pki.context()
    assert w.write_x509(ctx2).changed is True
    assert _data_gen(tmp_path) != gen
    assert (tmp_path / "svid.pem").read_bytes() == pem(ctx2.default_svid.certificates)


def test_mode_change_is_reapplied_but_not_a_content_change(tmp_path: Path) -> None:
    ctx = Pki.create().context()
    CredentialWriter(_config(tmp_path)).write_x509(ctx)
    res = CredentialWriter(_config(tmp_path, cert_file_mode=0o444, key_file_mode=0o400)).write_x509(ctx)
    assert res.changed is False
    assert _mode(tmp_path / "svid.pem") == 0o444 and _mode(tmp_path / "svid_key.pem") == 0o400


@pytest.mark.parametrize("layout", ["atomic_dir", "plain"])
def test_same_cert_and_key_name_gives_combined_chain_then_key(tmp_path: Path, layout: str) -> None:
    pki = Pki.create(intermediate=True)
    ctx = pki.context()
    cfg = _config(tmp_path, svid_key_file_name="svid.pem", file_layout=layout)
    CredentialWriter(cfg).write_x509(ctx)
    data = (tmp_path / "svid.pem").read_bytes()
    chain = pem(ctx.default_svid.certificates)
    assert data.startswith(chain)
    key = serialization.load_pem_private_key(data[len(chain) :], None)
    assert key.public_key() == ctx.default_svid.leaf.public_key()
    assert _mode(tmp_path / "svid.pem") == 0o600  # it holds a key
    assert x509.load_pem_x509_certificates(data) == list(ctx.default_svid.certificates)


def test_plain_layout_writes_bundle_key_cert_in_that_order_and_skips_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    renamed: list[str] = []
    real = os.rename

    def spy(src: Any, dst: Any, **kw: Any) -> None:
        renamed.append(str(dst))
        real(src, dst, **kw)

    monkeypatch.setattr(atomic.os, "rename", spy)
    pki = Pki.create()
    w = CredentialWriter(_config(tmp_path, file_layout="plain"))
    w.write_x509(pki.context())
    assert renamed == ["bundle.pem", "svid_key.pem", "svid.pem"]
    assert not any(os.path.islink(tmp_path / n) for n in X509.values())
    assert not (tmp_path / "..data").exists()
    bundle_inode = (tmp_path / "bundle.pem").stat().st_ino
    renamed.clear()
    assert w.write_x509(pki.context()).changed is True
    assert renamed == ["svid_key.pem", "svid.pem"]  # the bundle did not change: not rewritten
    assert (tmp_path / "bundle.pem").stat().st_ino == bundle_inode


def test_plain_layout_replaces_links_of_a_previous_atomic_dir_run(tmp_path: Path) -> None:
    ctx = Pki.create().context()
    CredentialWriter(_config(tmp_path)).write_x509(ctx)
    res = CredentialWriter(_config(tmp_path, file_layout="plain")).write_x509(ctx)
    assert res.changed is False
    assert all(atomic.is_regular_file(str(tmp_path / n)) for n in X509.values())


def test_cert_dir_is_created_with_a_log_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="spiffe_helper")
    logging.getLogger("spiffe_helper").propagate = True
    target = tmp_path / "new" / "certs"
    w = CredentialWriter(_config(target))
    w.prepare()
    assert _mode(target) == 0o755
    assert any(r.getMessage() == "Created output directory" for r in caplog.records)


def test_cert_dir_holding_only_owner_files_is_0700(tmp_path: Path) -> None:
    target = tmp_path / "jwt"
    cfg = Config(cert_dir=str(target), jwt_svids=(JwtSvidConfig("aud", (), "t.jwt"),), jwt_bundle_file_name="b.json")
    CredentialWriter(cfg).prepare()
    assert _mode(target) == 0o700


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"svid_file_name": "../escape.pem"}, "leaves cert_dir"),
        ({"svid_file_name": "..data"}, "reserved"),
        ({"svid_bundle_file_name": "sub/bundle.pem"}, "in one directory"),
        ({"jwt_bundle_file_name": "svid.pem"}, "also used by svid_file_name"),
        ({"jwt_svids": (JwtSvidConfig("a", (), "t"), JwtSvidConfig("b", (), "t"))}, "also used by jwt_svid_file_name"),
    ],
)
def test_bad_names_are_config_errors(tmp_path: Path, changes: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        CredentialWriter(_config(tmp_path, **changes))


def test_plain_layout_allows_files_in_several_directories(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    w = CredentialWriter(_config(tmp_path, svid_bundle_file_name="sub/bundle.pem", file_layout="plain"))
    w.write_x509(Pki.create().context())
    assert (tmp_path / "sub" / "bundle.pem").exists()


def test_empty_cert_dir_uses_names_as_given(tmp_path: Path) -> None:
    cfg = Config(**{k: str(tmp_path / v) for k, v in X509.items()})
    w = CredentialWriter(cfg)
    w.prepare()
    w.write_x509(Pki.create().context())
    assert os.readlink(tmp_path / "svid.pem") == "..data/svid.pem"


def test_render_error_writes_nothing(tmp_path: Path) -> None:
    w = CredentialWriter(_config(tmp_path, hint="missing"))
    with pytest.raises(SvidError, match="hinted"):
        w.write_x509(Pki.create().context())
    assert list(tmp_path.iterdir()) == []


def test_write_error_keeps_previous_files(tmp_path: Path) -> None:
    pki = Pki.create()
    w = CredentialWriter(_config(tmp_path, file_layout="plain"))
    w.write_x509(pki.context())
    before = {n: (tmp_path / n).read_bytes() for n in X509.values()}
    os.unlink(tmp_path / "svid.pem")
    (tmp_path / "svid.pem").mkdir()  # the cert can no longer be replaced
    with pytest.raises(WriteError, match="is a directory"):
        w.write_x509(pki.context())
    assert (tmp_path / "svid_key.pem").read_bytes() == before["svid_key.pem"]
    assert (tmp_path / "bundle.pem").read_bytes() == before["bundle.pem"]


def test_jwt_files(tmp_path: Path) -> None:
    kid, key = jwt_key()
    cfg = Config(
        cert_dir=str(tmp_path),
        jwt_bundle_file_name="bundle.json",
        jwt_svids=(JwtSvidConfig("aud", (), "token.jwt"),),
    )
    w = CredentialWriter(cfg)
    bundles = JwtBundleSet.from_wire({"example.org": jwks(jwk(key, kid))})
    assert w.write_jwt_bundles(bundles).changed is True
    assert w.write_jwt_bundles(bundles).changed is False
    token = mint(kid, key, "spiffe://example.org/w", ["aud"], NOW + dt.timedelta(minutes=5))
    res = w.write_jwt_svid("token.jwt", JwtSvid.parse(token))
    assert res.changed and res.spiffe_id == "spiffe://example.org/w"
    assert (tmp_path / "token.jwt").read_bytes() == token.encode()
    assert _mode(tmp_path / "token.jwt") == 0o600 and _mode(tmp_path / "bundle.json") == 0o600
    assert atomic.is_regular_file(str(tmp_path / "token.jwt"))
    assert w.write_jwt_svid("token.jwt", JwtSvid.parse(token)).changed is False


def test_prepare_removes_leftovers_and_keeps_previous_generation(tmp_path: Path) -> None:
    pki = Pki.create()
    w = CredentialWriter(_config(tmp_path))
    w.write_x509(pki.context())
    previous = _data_gen(tmp_path)
    w.write_x509(pki.context())
    (tmp_path / "..2001_01_01_00_00_00.1").mkdir()
    (tmp_path / "..tmp.x.svid.pem").write_bytes(b"x")
    CredentialWriter(_config(tmp_path)).prepare()
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".."))
    assert left == sorted(["..data", _data_gen(tmp_path), previous])
