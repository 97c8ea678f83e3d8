"""Dev agent CA lifecycle: creation, persistence (0600 keys), rotation with overlap, pruning."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest

from spiffe_helper.devagent.authority import Authority
from spiffe_helper.devagent.errors import DevAgentError
from spiffe_helper.spiffeid import TrustDomain

TD = TrustDomain("td.example")


class Clock:
    """A settable clock; certificates carry real timestamps derived from it."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_state_dir_keeps_the_root_and_keys_are_0600(tmp_path: Path) -> None:
    first = Authority(TD, ca_ttl=3600, state_dir=tmp_path)
    first.open()
    second = Authority(TD, ca_ttl=3600, state_dir=tmp_path)
    second.open()
    assert second.root_certs == first.root_certs
    assert second.jwks() == first.jwks()
    files = sorted(p.name for p in (tmp_path / TD.name).iterdir())
    assert [f for f in files if f.endswith(".key")] and "authority.json" in files
    for path in (tmp_path / TD.name).iterdir():
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o600 if path.suffix == ".key" else 0o644), path
    assert stat.S_IMODE((tmp_path / TD.name).stat().st_mode) == 0o700


def test_without_state_dir_every_start_is_a_new_root() -> None:
    a, b = Authority(TD, ca_ttl=3600), Authority(TD, ca_ttl=3600)
    a.open()
    b.open()
    assert a.root_certs != b.root_certs


def test_rotation_overlaps_then_prunes(tmp_path: Path) -> None:
    clock = Clock()
    auth = Authority(TD, ca_ttl=100, state_dir=tmp_path, clock=clock)
    auth.open()
    # Half-life +/- 5% of the 100 s lifetime, counted from the root's notBefore, which X.509 truncates to
    # whole seconds: up to 1 s before the clock.
    assert 44 <= auth.rotate_at - clock.now <= 55
    old_root, old_kid = auth.root_certs[0], auth.active_jwt_key.kid
    clock.now += 50
    auth.rotate()
    assert auth.root_certs[0] == old_root and len(auth.root_certs) == 2
    assert auth.active_issuer.cert == auth.root_certs[1]
    assert old_kid in auth.jwks().decode() and auth.active_jwt_key.kid != old_kid
    assert not auth.prune()
    assert auth.next_deadline() == pytest.approx(old_root.not_valid_after_utc.timestamp())
    clock.now += 51
    assert auth.prune()
    assert list(auth.root_certs) == [auth.active_issuer.cert]
    assert old_kid not in auth.jwks().decode()
    reloaded = Authority(TD, ca_ttl=100, state_dir=tmp_path, clock=clock)
    reloaded.open()
    assert reloaded.root_certs == auth.root_certs
    assert len(list((tmp_path / TD.name).glob("*.key"))) == 2  # one root key, one JWT key


def test_expired_stored_root_is_replaced(tmp_path: Path) -> None:
    clock = Clock()
    first = Authority(TD, ca_ttl=10, state_dir=tmp_path, clock=clock)
    first.open()
    clock.now += 20
    second = Authority(TD, ca_ttl=10, state_dir=tmp_path, clock=clock)
    second.open()
    assert second.root_certs[0] != first.root_certs[0] and len(second.root_certs) == 1


def test_intermediate_issuer_is_signed_by_root() -> None:
    auth = Authority(TD, ca_ttl=3600, intermediate=True)
    auth.open()
    issuer = auth.active_issuer
    assert issuer.chain == (issuer.cert,)
    issuer.cert.verify_directly_issued_by(auth.root_certs[0])


def test_corrupt_state_is_a_one_line_error(tmp_path: Path) -> None:
    Authority(TD, ca_ttl=3600, state_dir=tmp_path).open()
    manifest = tmp_path / TD.name / "authority.json"
    doc = json.loads(manifest.read_text())
    doc["roots"] = ["root-missing"]
    manifest.write_text(json.dumps(doc))
    with pytest.raises(DevAgentError, match="unreadable root CA") as info:
        Authority(TD, ca_ttl=3600, state_dir=tmp_path).open()
    assert "\n" not in str(info.value)
    manifest.write_text("{")
    with pytest.raises(DevAgentError, match=r"authority\.json: unreadable dev agent state"):
        Authority(TD, ca_ttl=3600, state_dir=tmp_path).open()
