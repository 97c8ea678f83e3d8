"""The HCL1 syntax tree shared by the HCL parser, the JSON parser and the TOML adapter.

The node kinds and their ``pos`` rules are those of hashicorp/hcl v1 (``ObjectList``, ``ObjectItem``,
``ObjectType``, ``ListType``, ``LiteralType``) because the decoder's behaviour, and its error texts, depend on
which kind of node it meets.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple, Union

from spiffe_helper.config.gostrconv import GoSyntaxError, go_unquote, hcl_unquote


# No dataclasses here: a dataclass builds its methods with exec, which cost every cold start ~3.5 ms for the
# eight classes of this module. Pos is an immutable NamedTuple; the tree's classes are mutable while parsing
# (the JSON parser rewrites item lists), so they are small plain classes with __slots__.
class Pos(NamedTuple):
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


class _Struct:
    """Field-wise ``==`` and ``repr`` over ``__slots__``, in constructor order (and, being mutable, no hash)."""

    __slots__: tuple[str, ...] = ()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"


class Token(_Struct):
    """One token. ``json`` marks strings from a JSON file (unquoted with Go's rules, tracked as keys).

    ``preset`` carries an already-decoded value for tokens that do not come from source text (TOML).
    """

    __slots__ = ("type", "pos", "text", "json", "preset")  # noqa: RUF023 (constructor order, for repr)

    def __init__(self, type: Tok, pos: Pos, text: str, json: bool = False, preset: str | None = None) -> None:
        self.type = type
        self.pos = pos
        self.text = text
        self.json = json
        self.preset = preset

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


class ObjectKey(_Struct):
    """One key of an item (``foo`` in ``foo = 1``; ``a`` and ``"b"`` in ``a "b" { }``)."""

    __slots__ = ("token",)

    def __init__(self, token: Token) -> None:
        self.token = token

    @property
    def pos(self) -> Pos:
        """Position of the key token."""
        return self.token.pos


class LiteralType(_Struct):
    """A number, float, bool, string or heredoc."""

    __slots__ = ("token",)

    def __init__(self, token: Token) -> None:
        self.token = token

    @property
    def pos(self) -> Pos:
        """Position of the literal token."""
        return self.token.pos


class ListType(_Struct):
    """``[ ... ]``."""

    __slots__ = ("lbrack", "items")  # noqa: RUF023 (constructor order, for repr)

    def __init__(self, lbrack: Pos, items: list[Node] | None = None) -> None:
        self.lbrack = lbrack
        self.items: list[Node] = [] if items is None else items

    @property
    def pos(self) -> Pos:
        """Position of ``[``."""
        return self.lbrack


class ObjectType(_Struct):
    """``{ ... }``."""

    __slots__ = ("lbrace", "list")

    def __init__(self, lbrace: Pos, list: ObjectList) -> None:
        self.lbrace = lbrace
        self.list = list

    @property
    def pos(self) -> Pos:
        """Position of ``{``."""
        return self.lbrace


class ObjectItem(_Struct):
    """``keys... = value`` or ``keys... { ... }``."""

    __slots__ = ("keys", "val")

    def __init__(self, keys: list[ObjectKey], val: Node) -> None:
        self.keys = keys
        self.val = val

    @property
    def pos(self) -> Pos:
        """Position of the first key (unknown for a key-less item)."""
        return self.keys[0].pos if self.keys else NO_POS


class ObjectList(_Struct):
    """The items of a file or of an object."""

    __slots__ = ("items",)

    def __init__(self, items: list[ObjectItem] | None = None) -> None:
        self.items: list[ObjectItem] = [] if items is None else items

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
