"""The HCL1 syntax tree shared by the HCL parser, the JSON parser and the TOML adapter.

The node kinds and their ``pos`` rules are those of hashicorp/hcl v1 (``ObjectList``, ``ObjectItem``,
``ObjectType``, ``ListType``, ``LiteralType``) because the decoder's behaviour, and its error texts, depend on
which kind of node it meets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Union

from spiffe_helper.config.gostrconv import GoSyntaxError, go_unquote, hcl_unquote


@dataclass(frozen=True)
class Pos:
    """A source position (1-based line and column in characters); line 0 means unknown."""

    line: int = 0
    column: int = 0

    @property
    def valid(self) -> bool:
        """True when the position is known."""
        return self.line > 0

    def __str__(self) -> str:
        return f"{self.line}:{self.column}" if self.valid else "-"


NO_POS = Pos()


class Tok(Enum):
    """HCL1 token types; the values are the names Go prints in error messages."""

    ILLEGAL = "ILLEGAL"
    EOF = "EOF"
    COMMENT = "COMMENT"
    IDENT = "IDENT"
    NUMBER = "NUMBER"
    FLOAT = "FLOAT"
    BOOL = "BOOL"
    STRING = "STRING"
    HEREDOC = "HEREDOC"
    LBRACK = "LBRACK"
    LBRACE = "LBRACE"
    COMMA = "COMMA"
    PERIOD = "PERIOD"
    RBRACK = "RBRACK"
    RBRACE = "RBRACE"
    ASSIGN = "ASSIGN"
    ADD = "ADD"
    SUB = "SUB"
    # JSON only
    COLON = "COLON"
    NULL = "NULL"


class InvalidLiteral(ValueError):
    """A string token the scanner accepted but Go's unquoting rejects (Go would panic)."""


@dataclass
class Token:
    """One token. ``json`` marks strings from a JSON file (unquoted with Go's rules, tracked as keys).

    ``preset`` carries an already-decoded value for tokens that do not come from source text (TOML).
    """

    type: Tok
    pos: Pos
    text: str
    json: bool = False
    preset: str | None = None

    def string_value(self) -> str:
        """The value of an IDENT, STRING or HEREDOC token (Go's ``Token.Value().(string)``)."""
        if self.preset is not None:
            return self.preset
        if self.type is Tok.IDENT:
            return self.text
        if self.type is Tok.HEREDOC:
            return unindent_heredoc(self.text)
        if self.text == "":  # JSON null
            return ""
        try:
            return go_unquote(self.text) if self.json else hcl_unquote(self.text)
        except GoSyntaxError as e:
            raise InvalidLiteral(f"invalid string literal {self.text}") from e

    def describe(self) -> str:
        """Go's ``%+v`` of a token: ``5:15 IDENT TRUE``."""
        return f"{self.pos} {self.type.value} {self.text}"


def unindent_heredoc(text: str) -> str:
    """The value of a heredoc token, with HCL1's exact slicing (including its quirks for ``<<-``)."""
    raw = text.encode("utf-8", "surrogateescape")
    idx = raw.index(b"\n")
    if raw[2:3] != b"-":
        return raw[idx + 1 : len(raw) - idx + 1].decode("utf-8", "surrogateescape")
    lines = raw[idx + 1 : len(raw) - idx + 2].split(b"\n")
    prefix = lines[-1]
    if not all(line.startswith(prefix) for line in lines):
        return raw[idx + 1 : len(raw) - idx + 1].rstrip(b" \t").decode("utf-8", "surrogateescape")
    out = [line[len(prefix) :] for line in lines[:-1]] + [b""]
    return b"\n".join(out).decode("utf-8", "surrogateescape")


@dataclass
class ObjectKey:
    """One key of an item (``foo`` in ``foo = 1``; ``a`` and ``"b"`` in ``a "b" { }``)."""

    token: Token

    @property
    def pos(self) -> Pos:
        """Position of the key token."""
        return self.token.pos


@dataclass
class LiteralType:
    """A number, float, bool, string or heredoc."""

    token: Token

    @property
    def pos(self) -> Pos:
        """Position of the literal token."""
        return self.token.pos


@dataclass
class ListType:
    """``[ ... ]``."""

    lbrack: Pos
    items: list[Node] = field(default_factory=list)

    @property
    def pos(self) -> Pos:
        """Position of ``[``."""
        return self.lbrack


@dataclass
class ObjectType:
    """``{ ... }``."""

    lbrace: Pos
    list: ObjectList

    @property
    def pos(self) -> Pos:
        """Position of ``{``."""
        return self.lbrace


@dataclass
class ObjectItem:
    """``keys... = value`` or ``keys... { ... }``."""

    keys: list[ObjectKey]
    val: Node

    @property
    def pos(self) -> Pos:
        """Position of the first key (unknown for a key-less item)."""
        return self.keys[0].pos if self.keys else NO_POS


@dataclass
class ObjectList:
    """The items of a file or of an object."""

    items: list[ObjectItem] = field(default_factory=list)

    @property
    def pos(self) -> Pos:
        """Position of the first item."""
        return self.items[0].pos if self.items else NO_POS


Node = Union[ObjectList, ObjectItem, ObjectType, ListType, LiteralType]  # noqa: UP007

# Go's ``%T`` names, used in the decoder's error texts.
GO_TYPE_NAMES: dict[type, str] = {
    ObjectList: "*ast.ObjectList",
    ObjectItem: "*ast.ObjectItem",
    ObjectType: "*ast.ObjectType",
    ListType: "*ast.ListType",
    LiteralType: "*ast.LiteralType",
}


def go_type_name(node: Node) -> str:
    """``*ast.LiteralType`` etc."""
    return GO_TYPE_NAMES[type(node)]
