"""SPIFFE IDs and trust domains (spiffe_helper/spiffeid.py) per the SPIFFE-ID specification."""

from __future__ import annotations

import copy
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spiffe_helper.errors import SvidError
from spiffe_helper.spiffeid import SpiffeId, TrustDomain


@pytest.mark.parametrize(
    ("text", "td", "path"),
    [
        ("spiffe://example.org", "example.org", ""),
        ("spiffe://example.org/ns/default/sa/web", "example.org", "/ns/default/sa/web"),
        ("SPIFFE://example.org/Case/Kept", "example.org", "/Case/Kept"),
        ("spiffe://10.0.0.1/x", "10.0.0.1", "/x"),
        ("spiffe://a-b_c.d/x.y-z_0", "a-b_c.d", "/x.y-z_0"),
        ("spiffe://example.org/..x/x..", "example.org", "/..x/x.."),
    ],
)
def test_valid_ids(text: str, td: str, path: str) -> None:
    sid = SpiffeId.parse(text)
    assert sid.trust_domain == TrustDomain(td) and sid.path == path
    assert str(sid) == "spiffe://" + td + path
    assert sid.member_of(TrustDomain(td)) and not sid.member_of(TrustDomain("other.org"))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "scheme"),
        ("https://example.org/x", "scheme"),
        ("spiffe:/example.org/x", "scheme"),
        ("spiffe://", "trust domain is empty"),
        ("spiffe:///x", "trust domain is empty"),
        ("spiffe://Example.org/x", "lower-case"),
        ("spiffe://example.org:8080/x", "lower-case"),
        ("spiffe://user@example.org/x", "lower-case"),
        ("spiffe://exa%6dple.org/x", "lower-case"),
        ("spiffe://[::1]/x", "lower-case"),
        ("spiffe://example.org/", "empty path segment"),
        ("spiffe://example.org//x", "empty path segment"),
        ("spiffe://example.org/x/", "empty path segment"),
        ("spiffe://example.org/./x", "'.' and '..'"),
        ("spiffe://example.org/x/..", "'.' and '..'"),
        ("spiffe://example.org/a%20b", "path segments may contain only"),
        ("spiffe://example.org/a b", "path segments may contain only"),
        ("spiffe://example.org/x?q=1", "query and fragment"),
        ("spiffe://example.org/x#f", "query and fragment"),
        ("spiffe://" + "a" * 256 + "/x", "longer than 255 bytes"),
    ],
)
def test_invalid_ids_name_the_value(text: str, match: str) -> None:
    with pytest.raises(SvidError, match=match) as err:
        SpiffeId.parse(text)
    if text:
        assert repr(text)[:40] in str(err.value) or "longer" in str(err.value)


def test_long_path_is_supported() -> None:
    text = "spiffe://example.org/" + "/".join(["segment"] * 300)  # > 2048 bytes: spec says support, not reject
    assert len(text) > 2048
    assert str(SpiffeId.parse(text)) == text


def test_trust_domain_parse_accepts_both_forms() -> None:
    assert TrustDomain.parse("example.org") == TrustDomain.parse("spiffe://example.org") == TrustDomain("example.org")
    assert TrustDomain.parse("SPIFFE://example.org").name == "example.org"
    assert TrustDomain("example.org").id_string == "spiffe://example.org"
    assert str(TrustDomain("example.org")) == "example.org"


@pytest.mark.parametrize("text", ["spiffe://example.org/x", "", "Example.org", "spiffe://", "td:80"])
def test_trust_domain_parse_rejects(text: str) -> None:
    with pytest.raises(SvidError):
        TrustDomain.parse(text)


def test_ordering_and_hashing_by_value() -> None:
    ids = [SpiffeId.parse("spiffe://b.org/x"), SpiffeId.parse("spiffe://a.org/y"), SpiffeId.parse("spiffe://a.org/x")]
    assert [str(i) for i in sorted(ids)] == ["spiffe://a.org/x", "spiffe://a.org/y", "spiffe://b.org/x"]
    assert len({SpiffeId.parse("spiffe://a.org/x"), ids[2]}) == 1


_td = st.from_regex(r"[a-z0-9._-]{1,40}", fullmatch=True)
_segment = st.from_regex(r"[a-zA-Z0-9._-]{1,20}", fullmatch=True).filter(lambda s: s not in (".", ".."))


@given(_td, st.lists(_segment, max_size=6))
def test_round_trip_of_generated_ids(td: str, segments: list[str]) -> None:
    text = "spiffe://" + td + "".join("/" + s for s in segments)
    sid = SpiffeId.parse(text)
    assert str(sid) == text
    assert SpiffeId.parse(str(sid)) == sid


@given(st.text(max_size=30))
def test_arbitrary_text_parses_or_raises_svid_error(text: str) -> None:
    for candidate in (text, "spiffe://" + text, "spiffe://example.org/" + text):
        try:
            sid = SpiffeId.parse(candidate)
        except SvidError:
            continue
        assert SpiffeId.parse(str(sid)) == sid


def test_trust_domain_constructor_validates_like_parse() -> None:
    for bad in ("", "Example.org", "td:80", "a/b"):
        with pytest.raises(SvidError):
            TrustDomain(bad)


def test_values_are_immutable() -> None:
    td, sid = TrustDomain("example.org"), SpiffeId.parse("spiffe://example.org/x")
    with pytest.raises(AttributeError):
        td.name = "other.org"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        sid.path = "/y"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del sid.trust_domain
    with pytest.raises(AttributeError):
        sid.extra = 1  # type: ignore[attr-defined]
    assert str(sid) == "spiffe://example.org/x" and td.name == "example.org"


def test_values_compare_only_with_their_own_type() -> None:
    td, sid = TrustDomain("example.org"), SpiffeId.parse("spiffe://example.org/x")
    assert td != "example.org" and td != ("example.org",)
    assert sid != (td, "/x") and sid != "spiffe://example.org/x"
    assert not isinstance(sid, tuple)
    with pytest.raises(TypeError):
        _ = td < "f"  # type: ignore[operator]
    with pytest.raises(TypeError):
        _ = sid < td  # type: ignore[operator]
    assert TrustDomain("a.org") < TrustDomain("b.org") <= TrustDomain("b.org") and TrustDomain("f.org") > td >= td
    assert SpiffeId.parse("spiffe://a.org/z") < sid < SpiffeId.parse("spiffe://example.org/y")
    assert {td: 1}[TrustDomain.parse("spiffe://example.org")] == 1


def test_repr_copy_and_pickle() -> None:
    sid = SpiffeId.parse("spiffe://example.org/x")
    assert repr(sid) == "SpiffeId(trust_domain=TrustDomain(name='example.org'), path='/x')"
    assert copy.copy(sid) == sid and copy.deepcopy(sid) == sid
    assert pickle.loads(pickle.dumps(sid)) == sid
    assert pickle.loads(pickle.dumps(sid.trust_domain)) == sid.trust_domain
