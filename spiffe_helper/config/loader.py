"""Read a helper.conf (HCL1, HCL-JSON or TOML) into decoded values; errors name file, line and column.

The format is chosen like the Go helper chooses it: a file whose first non-space character is ``{`` is
JSON, anything else HCL1; files named ``*.toml`` (ours) are TOML.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from spiffe_helper.config.decoder import Decoded, DecodeError, Decoder
from spiffe_helper.config.errors import HintedParseError
from spiffe_helper.config.hcl_ast import ObjectList, Pos
from spiffe_helper.config.hcl_parser import HclSyntaxError, parse_hcl
from spiffe_helper.config.model import Config
from spiffe_helper.config.schema import ROOT

# Go's unicode.IsSpace (used to find the first character of the file).
_GO_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(map(chr, range(0x2000, 0x200B)))
)


class ParsedConfig(NamedTuple):  # not a dataclass: that costs a cold start ~1 ms to build its methods
    """A decoded file, before validation."""

    root: Decoded
    file: str
    format: str  # "hcl", "json" or "toml"
    warnings: Sequence[tuple[Pos, str]] = ()


def detect_format(path: str, text: str) -> str:
    """``toml`` for ``*.toml``; otherwise ``json`` when the first non-space character is ``{``, else ``hcl``."""
    if path.lower().endswith(".toml"):
        return "toml"
    for ch in text:
        if ch in _GO_SPACE:
            continue
        return "json" if ch == "{" else "hcl"
    return "hcl"


def _hint_for_syntax(message: str, fmt: str, text: str, pos: Pos) -> str | None:
    if fmt != "hcl":
        return None
    if pos == Pos(1, 1) and text.startswith("\ufeff"):
        return "the file starts with a UTF-8 byte order mark; save it without one"
    if re.fullmatch(r"key 'o[0-7_]+' expected .*", message):
        return '0o600 is not HCL syntax; write 0600 (octal) or "0o600"'
    if message.startswith("Unknown token:") and message.endswith(" ADD +"):
        return "numbers cannot start with +"
    if message == "illegal char":
        return 'strings need double quotes and keys are assigned with =, e.g. key = "value"'
    if message == "expected '/' for comment":
        return 'values such as paths must be double-quoted, e.g. agent_address = "/run/agent.sock"'
    if message.endswith("got: LBRACK"):
        return "[section] headers are TOML; name the file *.toml, or write blocks as name { ... }"
    if message.startswith("Unknown token:") and " IDENT " in message:
        return "booleans are lowercase true/false; other values need double quotes"
    return None


def _parse_toml(text: str, file: str) -> ObjectList:
    # Imported here: tomllib costs a one-shot start-up several milliseconds, and only *.toml files need it.
    from spiffe_helper.config.toml_adapter import TomlError, parse_toml

    try:
        return parse_toml(text)
    except TomlError as e:
        raise HintedParseError(e.message, file=file, line=e.pos.line, column=e.pos.column) from None


def _parse_json(text: str) -> ObjectList:
    # Imported here for the same reason: most files are HCL. Raises HclSyntaxError like the HCL parser.
    from spiffe_helper.config.json_parser import parse_json

    return parse_json(text)


def parse_text(text: str, *, file: str = "helper.conf", fmt: str | None = None) -> ParsedConfig:
    """Parse and decode ``text``; raises :class:`~spiffe_helper.errors.ConfigParseError`."""
    fmt = fmt or detect_format(file, text)
    try:
        if fmt == "toml":
            tree = _parse_toml(text, file)
        elif fmt == "json":
            tree = _parse_json(text)
        else:
            tree = parse_hcl(text)
        decoder = Decoder()
        root = decoder.decode_root(ROOT, tree)
    except HclSyntaxError as e:
        hint = _hint_for_syntax(e.message, fmt, text, e.pos)
        line, column = e.pos.line or 1, e.pos.column or 1
        raise HintedParseError(e.message, hint=hint, file=file, line=line, column=column) from None
    except DecodeError as e:
        key = e.key.removeprefix("root.") if e.key else None
        raise HintedParseError(
            e.message, hint=e.hint, file=file, line=e.pos.line or 1, column=e.pos.column or 1, key=key
        ) from None
    return ParsedConfig(root, file, fmt, decoder.warnings)


def read_text(path: str) -> str:
    """The file's text (invalid UTF-8 kept as surrogate escapes, reported by the scanner as Go does)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except IsADirectoryError:
        raise HintedParseError(f"read {path}: is a directory") from None
    except OSError as e:
        # Go's wording ("open helper.conf: no such file or directory"); the message names the file.
        reason = (e.strerror or str(e)).lower()
        raise HintedParseError(f"open {path}: {reason}") from None
    return data.decode("utf-8", "surrogateescape")


def parse_file(path: str) -> ParsedConfig:
    """Read, parse and decode a config file; raises :class:`~spiffe_helper.errors.ConfigParseError`."""
    return parse_text(read_text(path), file=path)


def load_config(
    path: str,
    *,
    daemon_mode: bool | None = None,
    oneshot_timeout: float | None = None,
    environ: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Config:
    """Parse and validate ``path``: the effective :class:`Config` (flags override the file, as in Go)."""
    from spiffe_helper.config.validate import validate

    return validate(
        parse_file(path),
        daemon_mode=daemon_mode,
        oneshot_timeout=oneshot_timeout,
        environ=os.environ if environ is None else environ,
        warn=warn,
    )
