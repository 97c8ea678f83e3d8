"""TOML helper.conf files (``*.toml``): parsed by ``tomllib``, then fed to the same decoder as HCL.

The TOML document is turned into the HCL syntax tree so that every key, type rule and validation is
identical: ``[health_checks]`` is a block, ``[[jwt_svids]]`` a list of objects, ``cert_file_mode = 0o644``
or ``"0644"`` an integer. ``tomllib`` gives no positions, so keys are located in the text by a best-effort
search (enough to name the line in an error).
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

from spiffe_helper.config.hcl_ast import (
    ListType,
    LiteralType,
    Node,
    ObjectItem,
    ObjectKey,
    ObjectList,
    ObjectType,
    Pos,
    Tok,
    Token,
)


class TomlError(Exception):
    """Invalid TOML, or a TOML value helper.conf has no use for (dates, times)."""

    def __init__(self, pos: Pos, message: str) -> None:
        super().__init__(message)
        self.pos = pos
        self.message = message


_TOML_POS = re.compile(r"\(at line (\d+), column (\d+)\)")


class _Locator:
    """Finds the line where a key (or table) is written; falls back to the parent's line."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def find(self, key: str, after: int) -> Pos:
        pattern = re.compile(r"^\s*(\[\[?\s*)?([\w.\"'-]*\.)?[\"']?" + re.escape(key) + r"[\"']?\s*[=\].]")
        for number in range(max(after, 1), len(self.lines) + 1):
            if pattern.match(self.lines[number - 1]):
                return Pos(number, 1)
        return Pos(max(after, 1), 1)


def parse_toml(text: str) -> ObjectList:
    """Parse TOML text into the HCL tree; raises :class:`TomlError`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = _TOML_POS.search(msg)
        pos = Pos(int(m.group(1)), int(m.group(2))) if m else Pos(1, 1)
        raise TomlError(pos, _TOML_POS.sub("", msg).strip()) from None
    except RecursionError:
        # tomllib recurses once per nesting level; Go has no limit, Python's stack has one.
        raise TomlError(_deep_pos(text), "nesting too deep") from None
    try:
        return _object_list(data, _Locator(text), 1)
    except RecursionError:
        raise TomlError(_deep_pos(text), "nesting too deep") from None


def _deep_pos(text: str, limit: int = 100) -> Pos:
    """Best effort: the line where brackets first nest ``limit`` deep (strings and comments not excluded)."""
    depth = 0
    for number, line in enumerate(text.splitlines(), 1):
        for column, ch in enumerate(line, 1):
            depth += (ch in "[{") - (ch in "]}")
            if depth > limit:
                return Pos(number, column)
    return Pos(1, 1)


def _object_list(data: dict[str, Any], loc: _Locator, after: int) -> ObjectList:
    items = []
    for key, value in data.items():
        pos = loc.find(key, after)
        items.append(ObjectItem([ObjectKey(Token(Tok.IDENT, pos, key, preset=key))], _node(value, loc, pos)))
    return ObjectList(items)


def _node(value: Any, loc: _Locator, pos: Pos) -> Node:
    if isinstance(value, bool):
        return LiteralType(Token(Tok.BOOL, pos, "true" if value else "false"))
    if isinstance(value, int):
        return LiteralType(Token(Tok.NUMBER, pos, str(value)))
    if isinstance(value, float):
        return LiteralType(Token(Tok.FLOAT, pos, repr(value)))
    if isinstance(value, str):
        return LiteralType(Token(Tok.STRING, pos, value, preset=value))
    if isinstance(value, dict):
        return ObjectType(pos, _object_list(value, loc, pos.line))
    if isinstance(value, list):
        return ListType(pos, [_node(v, loc, pos) for v in value])
    raise TomlError(pos, f"unsupported TOML value {value!r} (dates and times have no use in helper.conf)")
