"""SPIFFE IDs and trust domains, parsed and validated per the SPIFFE-ID specification.

Pure values: no I/O. Invalid input raises :class:`~spiffe_helper.errors.SvidError` with a message that
names the offending value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from spiffe_helper.errors import SvidError

_SCHEME = "spiffe://"
_TD_CHARS = re.compile(r"^[a-z0-9._-]+$")
_SEGMENT_CHARS = re.compile(r"^[a-zA-Z0-9._-]+$")
_MAX_TD_BYTES = 255


@dataclass(frozen=True, order=True)
class TrustDomain:
    """A trust domain name such as ``example.org`` (no scheme)."""

    name: str

    def __post_init__(self) -> None:
        _check_trust_domain(self.name, self.name)

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


@dataclass(frozen=True, order=True)
class SpiffeId:
    """A SPIFFE ID: a trust domain plus a (possibly empty) path such as ``/ns/default/sa/web``."""

    trust_domain: TrustDomain
    path: str

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
