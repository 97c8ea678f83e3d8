"""SPIFFE IDs and trust domains, parsed and validated per the SPIFFE-ID specification.

Pure values: no I/O. Invalid input raises :class:`~spiffe_helper.errors.SvidError` with a message that
names the offending value.
"""

from __future__ import annotations

import re
from functools import total_ordering
from typing import TYPE_CHECKING

from spiffe_helper.errors import SvidError

_SCHEME = "spiffe://"
_TD_CHARS = re.compile(r"^[a-z0-9._-]+$")
_SEGMENT_CHARS = re.compile(r"^[a-zA-Z0-9._-]+$")
_MAX_TD_BYTES = 255


class _Frozen:
    """Base of the two value classes below: attributes are set once, in ``__init__``, never again."""

    __slots__ = ()

    if not TYPE_CHECKING:  # hidden from mypy, which would otherwise allow assigning any attribute

        def __setattr__(self, name: str, value: object) -> None:
            raise AttributeError(f"cannot assign to field {name!r}: {type(self).__name__} is immutable")

        def __delattr__(self, name: str) -> None:
            raise AttributeError(f"cannot delete field {name!r}: {type(self).__name__} is immutable")


# Hand-written rather than frozen dataclasses (which build their methods with exec: ~4 ms of every cold
# start for these two) or NamedTuples (a TrustDomain must validate on construction, and neither value
# should compare equal to a plain tuple). Equality, hashing and ordering are by value, as before.
@total_ordering
class TrustDomain(_Frozen):
    """A trust domain name such as ``example.org`` (no scheme). Invalid names raise :class:`SvidError`."""

    __slots__ = ("name",)
    __match_args__ = ("name",)
    if TYPE_CHECKING:  # read-only to the type checker too, as the frozen dataclass was

        @property
        def name(self) -> str: ...

    def __init__(self, name: str) -> None:
        _check_trust_domain(name, name)
        object.__setattr__(self, "name", name)

    @classmethod
    def parse(cls, text: str) -> TrustDomain:
        """Accept both ``example.org`` and ``spiffe://example.org`` (Workload API map keys use either)."""
        if text[: len(_SCHEME)].lower() == _SCHEME:
            rest = text[len(_SCHEME) :]
            if "/" in rest:
                raise SvidError(f"trust domain {text!r} must not have a path")
            return cls(rest)
        return cls(text)

    @property
    def id_string(self) -> str:
        """The trust domain's SPIFFE ID form, ``spiffe://<name>``."""
        return _SCHEME + self.name

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"TrustDomain(name={self.name!r})"

    def __reduce__(self) -> tuple[type[TrustDomain], tuple[str]]:
        return (TrustDomain, (self.name,))

    def __hash__(self) -> int:
        return hash(self.name)

    def __eq__(self, other: object) -> bool:
        if type(other) is not TrustDomain:
            return NotImplemented
        return self.name == other.name

    def __lt__(self, other: TrustDomain) -> bool:
        if type(other) is not TrustDomain:
            return NotImplemented
        return self.name < other.name


@total_ordering
class SpiffeId(_Frozen):
    """A SPIFFE ID: a trust domain plus a (possibly empty) path such as ``/ns/default/sa/web``.

    Ordered by trust domain, then path.
    """

    __slots__ = ("path", "trust_domain")
    __match_args__ = ("trust_domain", "path")
    if TYPE_CHECKING:

        @property
        def trust_domain(self) -> TrustDomain: ...
        @property
        def path(self) -> str: ...

    def __init__(self, trust_domain: TrustDomain, path: str) -> None:
        object.__setattr__(self, "trust_domain", trust_domain)
        object.__setattr__(self, "path", path)

    @classmethod
    def parse(cls, text: str) -> SpiffeId:
        """Parse and validate ``spiffe://<trust-domain>[/<path>]``."""
        if text[: len(_SCHEME)].lower() != _SCHEME:
            raise SvidError(f"invalid SPIFFE ID {text!r}: scheme must be 'spiffe://'")
        rest = text[len(_SCHEME) :]
        if "?" in rest or "#" in rest:
            raise SvidError(f"invalid SPIFFE ID {text!r}: query and fragment are not allowed")
        td_name, slash, path = rest.partition("/")
        _check_trust_domain(td_name, text)
        path = slash + path
        if path:
            for segment in path[1:].split("/"):
                if segment == "":
                    raise SvidError(f"invalid SPIFFE ID {text!r}: empty path segment or trailing '/'")
                if segment in (".", ".."):
                    raise SvidError(f"invalid SPIFFE ID {text!r}: path segments '.' and '..' are not allowed")
                if not _SEGMENT_CHARS.match(segment):
                    raise SvidError(
                        f"invalid SPIFFE ID {text!r}: path segments may contain only letters, digits, '.', '-', '_'"
                    )
        return cls(TrustDomain(td_name), path)

    def member_of(self, td: TrustDomain) -> bool:
        """True when this ID belongs to trust domain ``td``."""
        return self.trust_domain == td

    def __str__(self) -> str:
        return _SCHEME + self.trust_domain.name + self.path

    def __repr__(self) -> str:
        return f"SpiffeId(trust_domain={self.trust_domain!r}, path={self.path!r})"

    def __reduce__(self) -> tuple[type[SpiffeId], tuple[TrustDomain, str]]:
        return (SpiffeId, (self.trust_domain, self.path))

    def _key(self) -> tuple[str, str]:
        return (self.trust_domain.name, self.path)

    def __hash__(self) -> int:
        return hash(self._key())

    def __eq__(self, other: object) -> bool:
        if type(other) is not SpiffeId:
            return NotImplemented
        return self._key() == other._key()

    def __lt__(self, other: SpiffeId) -> bool:
        if type(other) is not SpiffeId:
            return NotImplemented
        return self._key() < other._key()


def _check_trust_domain(name: str, original: str) -> None:
    if not name:
        raise SvidError(f"invalid SPIFFE ID {original!r}: trust domain is empty")
    if len(name.encode()) > _MAX_TD_BYTES:
        raise SvidError(f"invalid trust domain in {original!r}: longer than {_MAX_TD_BYTES} bytes")
    if not _TD_CHARS.match(name):
        # Catches ports, userinfo, percent-encoding and upper case in one rule.
        raise SvidError(
            f"invalid trust domain in {original!r}: only lower-case letters, digits, '.', '-', '_' are allowed"
        )
