"""Which SVIDs each socket of the dev agent hands out: ``--identity`` options and registration files.

grpcio tells a Unix-socket server nothing about its caller, so the dev agent's unit of identity is the
socket: every registration is a socket name plus the SVIDs (each with an optional hint) that any caller of
``<socket-dir>/<name>.sock`` receives. The first SVID is the default one. An empty list is allowed: that
socket answers every call with ``PERMISSION_DENIED`` ("no identity issued").

Command line: ``NAME=SPIFFE_ID[#HINT][,SPIFFE_ID[#HINT]...]`` (``NAME=`` for no identity). A SPIFFE ID can
never contain ``#`` (fragments are forbidden), so the hint separator is unambiguous.

Registration file (``.json`` or ``.toml``), the same meaning::

    # TOML                                       // JSON
    [sockets.web]                                {"sockets": {
    svids = [                                      "web": {"svids": [
      {spiffe_id = "spiffe://td/a", hint = "a"},     {"spiffe_id": "spiffe://td/a", "hint": "a"},
      "spiffe://td/b#b",                             "spiffe://td/b#b"]},
    ]                                              "nobody": {"svids": []}}}
    [sockets.nobody]
    svids = []
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spiffe_helper.errors import ConfigError, SvidError
from spiffe_helper.spiffeid import SpiffeId, TrustDomain

_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$")
MAX_HINT_BYTES = 1024  # the Workload API spec: servers SHOULD NOT support longer hints


class RegistrationError(ValueError):
    """A registration (socket name, SPIFFE ID or hint) is invalid; the message is one line."""


@dataclass(frozen=True)
class SvidSpec:
    """One SVID a socket hands out: its SPIFFE ID and optional hint."""

    spiffe_id: SpiffeId
    hint: str = ""

    @classmethod
    def parse(cls, text: str) -> SvidSpec:
        """Parse ``spiffe://td/path`` or ``spiffe://td/path#hint``."""
        raw_id, _, hint = text.strip().partition("#")
        return cls(parse_workload_id(raw_id), _check_hint(hint))

    def __str__(self) -> str:
        return f"{self.spiffe_id}#{self.hint}" if self.hint else str(self.spiffe_id)


@dataclass(frozen=True)
class SocketRegistration:
    """A socket name and the SVIDs its callers receive (empty: no identity issued)."""

    name: str
    svids: tuple[SvidSpec, ...]

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise RegistrationError(
                f"invalid socket name {self.name!r}: use letters, digits, '.', '-', '_' (at most 64)"
            )
        hints = [s.hint for s in self.svids if s.hint]
        if len(hints) != len(set(hints)):
            raise RegistrationError(f"socket {self.name!r}: hints must be unique within a socket")
        ids = [s.spiffe_id for s in self.svids]
        if len(ids) != len(set(ids)):
            raise RegistrationError(f"socket {self.name!r}: a SPIFFE ID is listed twice")


def parse_workload_id(text: str) -> SpiffeId:
    """A SPIFFE ID fit for a workload SVID (valid, non-root path); RegistrationError otherwise."""
    try:
        spiffe_id = SpiffeId.parse(text)
    except SvidError as exc:
        raise RegistrationError(str(exc)) from None
    if not spiffe_id.path:
        raise RegistrationError(f"SPIFFE ID {text!r} has no path: workload SVIDs need one")
    return spiffe_id


def parse_trust_domain(text: str) -> TrustDomain:
    """``example.org`` or ``spiffe://example.org``; RegistrationError otherwise."""
    try:
        return TrustDomain.parse(text.strip())
    except SvidError as exc:
        raise RegistrationError(str(exc)) from None


def _check_hint(hint: str) -> str:
    if len(hint.encode()) > MAX_HINT_BYTES:
        raise RegistrationError(f"hint longer than {MAX_HINT_BYTES} bytes")
    return hint


def parse_identity_option(text: str) -> SocketRegistration:
    """Parse one ``--identity NAME=ID[#HINT][,ID[#HINT]...]`` value."""
    name, sep, rest = text.partition("=")
    if not sep:
        raise RegistrationError(f"expected NAME=SPIFFE_ID[#HINT][,...], got {text!r}")
    specs = tuple(SvidSpec.parse(part) for part in rest.split(",") if part.strip())
    return SocketRegistration(name.strip(), specs)


def registrations_from_mapping(identities: Mapping[str, Sequence[str | SvidSpec] | str]) -> list[SocketRegistration]:
    """The Python API's form: ``{"web": ["spiffe://td/a#hintA", "spiffe://td/b"], "nobody": []}``."""
    out = []
    for name, value in identities.items():
        items: Sequence[str | SvidSpec] = [value] if isinstance(value, str) else value
        specs = tuple(item if isinstance(item, SvidSpec) else SvidSpec.parse(item) for item in items)
        out.append(SocketRegistration(name, specs))
    return out


def check_unique(registrations: Iterable[SocketRegistration]) -> list[SocketRegistration]:
    """Reject two registrations for one socket name (e.g. in both a file and ``--identity``)."""
    seen: set[str] = set()
    out = []
    for reg in registrations:
        if reg.name in seen:
            raise RegistrationError(f"socket {reg.name!r} is registered twice")
        seen.add(reg.name)
        out.append(reg)
    return out


def resolve_trust_domain(registrations: Iterable[SocketRegistration], explicit: str | None) -> TrustDomain:
    """The agent's own trust domain: ``explicit``, else that of the first SVID; every SVID must be in it."""
    specs = [spec for reg in registrations for spec in reg.svids]
    if explicit:
        td = parse_trust_domain(explicit)
    elif specs:
        td = specs[0].spiffe_id.trust_domain
    else:
        td = TrustDomain("example.org")
    for spec in specs:
        if not spec.spiffe_id.member_of(td):
            raise RegistrationError(
                f"SPIFFE ID {spec.spiffe_id} is not in the agent's trust domain {td.name!r} "
                "(the dev agent issues for one trust domain; use --federate-with for others)"
            )
    return td


def load_registration_file(path: str | Path) -> list[SocketRegistration]:
    """Read a ``.json`` or ``.toml`` registration file; ConfigError names the file and key on any problem."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read registration file: {exc.strerror}", file=str(p)) from None
    doc = _decode(raw, p)
    sockets = doc.get("sockets")
    if not isinstance(sockets, dict):
        raise ConfigError("expected a table of socket names", file=str(p), key="sockets")
    out = []
    for name, entry in sockets.items():
        key = f"sockets.{name}"
        if not isinstance(entry, dict) or not isinstance(entry.get("svids", None), list):
            raise ConfigError("expected a table with an 'svids' list", file=str(p), key=key)
        specs = tuple(_spec(item, p, f"{key}.svids[{i}]") for i, item in enumerate(entry["svids"]))
        try:
            out.append(SocketRegistration(str(name), specs))
        except RegistrationError as exc:
            raise ConfigError(str(exc), file=str(p), key=key) from None
    try:
        return check_unique(out)
    except RegistrationError as exc:
        raise ConfigError(str(exc), file=str(p)) from None


def _decode(raw: bytes, path: Path) -> dict[str, Any]:
    if path.suffix.lower() == ".toml":
        try:
            return tomllib.loads(raw.decode())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"invalid TOML: {exc}", file=str(path)) from None
    if path.suffix.lower() != ".json":
        raise ConfigError("registration file must end in .json or .toml", file=str(path))
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"invalid JSON: {exc.msg}", file=str(path), line=exc.lineno, column=exc.colno) from None
    except UnicodeDecodeError:
        raise ConfigError("invalid JSON: not UTF-8", file=str(path)) from None
    if not isinstance(doc, dict):
        raise ConfigError("expected a JSON object", file=str(path))
    return doc


def _spec(item: object, path: Path, key: str) -> SvidSpec:
    try:
        if isinstance(item, str):
            return SvidSpec.parse(item)
        if isinstance(item, dict) and isinstance(item.get("spiffe_id"), str):
            unknown = set(item) - {"spiffe_id", "hint"}
            if unknown:
                raise RegistrationError(f"unknown key {sorted(unknown)[0]!r}")
            hint = item.get("hint", "")
            if not isinstance(hint, str):
                raise RegistrationError("'hint' must be a string")
            return SvidSpec(parse_workload_id(item["spiffe_id"]), _check_hint(hint))
    except RegistrationError as exc:
        raise ConfigError(str(exc), file=str(path), key=key) from None
    raise ConfigError("expected a SPIFFE ID string or a table with 'spiffe_id'", file=str(path), key=key)
