"""Decode an HCL1 tree into helper.conf values with hashicorp/hcl v1's ``hcl.Decode`` rules.

The rules (and error texts) are Go's, because every existing helper.conf depends on them:
keys match case-insensitively; the last assignment of a scalar wins; lists append across assignments
(two ``jwt_svids = [...]`` concatenate); ints are parsed with ``strconv.ParseInt(s, 0, 0)`` from numbers
*and* strings (``0644`` octal, ``"0644"`` too, ``444`` decimal); numbers are accepted for strings; booleans
must be ``true``/``false`` literals; a block or object given for a list of structs is split into one entry
per attribute (so ``jwt_svids { ... }`` never works); unknown keys are collected like Go's
``unusedKeyPositions`` (unquoted keys only). Fields are decoded in struct order, so the first error is the
same one Go reports.

Our keys (``log_level``, ``start { }``, ...) come after the Go fields and use the same machinery, plus two
kinds of our own: durations (seconds or ``"90s"``) and argument lists (a string, or a list of strings).
"""

from __future__ import annotations

from enum import Enum, auto
from typing import NamedTuple

from spiffe_helper.config.gostrconv import GoSyntaxError, parse_duration, parse_int
from spiffe_helper.config.hcl_ast import (
    NO_POS,
    InvalidLiteral,
    ListType,
    LiteralType,
    Node,
    ObjectItem,
    ObjectKey,
    ObjectList,
    ObjectType,
    Pos,
    Tok,
    go_type_name,
)


class Kind(Enum):
    """How a field decodes (Go field types, plus two of ours)."""

    BOOL = auto()
    INT = auto()
    STRING = auto()
    OPT_BOOL = auto()  # Go's *bool: unset stays None
    STRUCT = auto()
    STRUCT_LIST = auto()
    STRING_LIST = auto()
    DURATION = auto()  # ours: seconds as a number, or a Go duration string
    ARGS = auto()  # ours: a string (split at launch, as Go) or a list of strings


# NamedTuples and a plain class, not dataclasses: a dataclass builds its methods with exec, which cost every
# cold start ~2 ms for these three.
class Field(NamedTuple):
    """One decodable key."""

    name: str
    kind: Kind
    struct: StructSpec | None = None


class StructSpec(NamedTuple):
    """A struct's fields in Go declaration order; ``track_unknown`` mirrors Go's ``unusedKeyPositions``."""

    name: str
    fields: tuple[Field, ...]
    track_unknown: bool

    @property
    def names(self) -> frozenset[str]:
        """The field names."""
        return frozenset(f.name for f in self.fields)


class DecodeError(Exception):
    """A value of the wrong type; ``message`` is the Go text, ``hint`` ours."""

    def __init__(self, pos: Pos, message: str, key: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.pos = pos
        self.message = message
        self.key = key
        self.hint = hint


class Decoded:
    """The decoded values of one struct, with where each key was set (mutable while decoding)."""

    __slots__ = ("key_pos", "pos", "spec", "split_from", "unknown", "values")

    def __init__(
        self,
        spec: StructSpec,
        values: dict[str, object],
        key_pos: dict[str, Pos] | None = None,
        unknown: dict[str, list[Pos]] | None = None,
        pos: Pos = NO_POS,
        split_from: Pos | None = None,
    ) -> None:
        self.spec = spec
        self.values = values
        self.key_pos: dict[str, Pos] = {} if key_pos is None else key_pos
        self.unknown: dict[str, list[Pos]] = {} if unknown is None else unknown
        self.pos = pos
        # Set on a jwt_svids entry that Go built from a single attribute of a block/object (the split quirk).
        self.split_from = split_from

    def __repr__(self) -> str:
        return f"Decoded(spec={self.spec.name!r}, values={self.values!r}, pos={self.pos})"

    def get_str(self, name: str) -> str:
        """A string value."""
        value = self.values[name]
        assert isinstance(value, str)
        return value


def new_decoded(spec: StructSpec, pos: Pos = NO_POS) -> Decoded:
    """A struct with Go's zero values."""
    values: dict[str, object] = {}
    for f in spec.fields:
        if f.kind is Kind.STRUCT:
            assert f.struct is not None
            values[f.name] = new_decoded(f.struct)
        else:
            values[f.name] = _ZERO[f.kind]
    return Decoded(spec, values, pos=pos)


_ZERO: dict[Kind, object] = {
    Kind.BOOL: False,
    Kind.INT: 0,
    Kind.STRING: "",
    Kind.OPT_BOOL: None,
    Kind.STRUCT_LIST: None,
    Kind.STRING_LIST: None,
    Kind.DURATION: None,
    Kind.ARGS: "",
}


def _fold(key: str) -> str:
    # Go's strings.EqualFold against an ASCII field name: ASCII case, plus the Kelvin sign (lower() gives
    # "k") and the long s, the only non-ASCII runes whose simple fold orbit holds an ASCII letter.
    return key.lower().replace("\u017f", "s")


def _key_value(key: ObjectKey) -> str:
    try:
        return key.token.string_value()
    except InvalidLiteral as e:
        raise DecodeError(key.pos, str(e)) from None


class Decoder:
    """Decodes a tree into :class:`Decoded` values; collects warnings about silently ignored input."""

    def __init__(self) -> None:
        self.warnings: list[tuple[Pos, str]] = []

    def decode_root(self, spec: StructSpec, root: ObjectList) -> Decoded:
        """Decode a file's items into a fresh struct (Go's ``DecodeObject(out, file.Node)``)."""
        result = new_decoded(spec, root.pos)
        self._decode_struct("root", root, result, NO_POS)
        return result

    # -- dispatch ----------------------------------------------------------------------------------------
    def _decode(self, name: str, node: Node, f: Field, current: object, at: Pos) -> object:
        kind = f.kind
        if kind is Kind.STRING:
            return self._decode_string(name, node, at)
        if kind is Kind.BOOL or kind is Kind.OPT_BOOL:
            return self._decode_bool(name, node, at)
        if kind is Kind.INT:
            return self._decode_int(name, node, at)
        if kind is Kind.STRUCT:
            assert isinstance(current, Decoded)
            self._decode_struct(name, node, current, at)
            return current
        if kind is Kind.STRUCT_LIST or kind is Kind.STRING_LIST:
            assert current is None or isinstance(current, list)
            return self._decode_slice(name, node, f, current, at)
        if kind is Kind.DURATION:
            return self._decode_duration(name, node, at)
        return self._decode_args(name, node, at)

    @staticmethod
    def _where(node: Node, at: Pos) -> Pos:
        pos = node.pos
        return pos if pos.valid else at

    def _decode_bool(self, name: str, node: Node, at: Pos) -> bool:
        if isinstance(node, LiteralType) and node.token.type is Tok.BOOL:
            return node.token.text == "true"
        hint = "write true or false, without quotes"
        raise DecodeError(self._where(node, at), f"{name}: unknown type {go_type_name(node)}", name, hint)

    def _decode_int(self, name: str, node: Node, at: Pos) -> int:
        hint = "write an integer: 0644 is octal, 0x1a4 hex, 420 decimal"
        if isinstance(node, LiteralType) and node.token.type in (Tok.NUMBER, Tok.STRING):
            text = node.token.text if node.token.type is Tok.NUMBER else self._literal_str(node)
            try:
                return parse_int(text)
            except GoSyntaxError as e:
                # Go reports these without a position; ours names the literal.
                raise DecodeError(node.pos, str(e), name, hint) from None
        raise DecodeError(self._where(node, at), f"{name}: unknown type {go_type_name(node)}", name, hint)

    @staticmethod
    def _literal_str(node: LiteralType) -> str:
        try:
            return node.token.string_value()
        except InvalidLiteral as e:
            raise DecodeError(node.pos, str(e)) from None

    def _decode_string(self, name: str, node: Node, at: Pos) -> str:
        if isinstance(node, LiteralType):
            t = node.token.type
            if t is Tok.NUMBER:
                return node.token.text
            if t is Tok.STRING or t is Tok.HEREDOC:
                return self._literal_str(node)
        hint = 'write a double-quoted string: key = "value"'
        raise DecodeError(self._where(node, at), f"{name}: unknown type for string {go_type_name(node)}", name, hint)

    def _decode_duration(self, name: str, node: Node, at: Pos) -> float:
        hint = 'write seconds (90) or a duration string ("90s", "2m", "1m30s")'
        if isinstance(node, LiteralType):
            t = node.token.type
            try:
                if t is Tok.NUMBER:
                    return float(parse_int(node.token.text))
                if t is Tok.FLOAT:
                    return float(node.token.text)
                if t is Tok.STRING:
                    text = self._literal_str(node).strip()
                    try:
                        return parse_duration(text)
                    except GoSyntaxError:
                        return float(text)
            except (GoSyntaxError, ValueError):
                raise DecodeError(node.pos, f"{name}: invalid duration {node.token.text}", name, hint) from None
        raise DecodeError(self._where(node, at), f"{name}: unknown type for duration {go_type_name(node)}", name, hint)

    def _decode_args(self, name: str, node: Node, at: Pos) -> str | tuple[str, ...]:
        if isinstance(node, ListType):
            return tuple(self._decode_string(f"{name}[{i}]", e, at) for i, e in enumerate(node.items))
        if isinstance(node, LiteralType):
            return self._decode_string(name, node, at)
        hint = 'write a string ("-c conf.yaml") or a list of strings (["-c", "conf.yaml"])'
        raise DecodeError(self._where(node, at), f"{name}: unknown type for arguments {go_type_name(node)}", name, hint)

    # -- lists -------------------------------------------------------------------------------------------
    def _decode_slice(self, name: str, node: Node, f: Field, current: list[object] | None, at: Pos) -> list[object]:
        result: list[object] = list(current) if current is not None else []
        items: list[Node]
        if isinstance(node, ObjectList):
            items = list(node.items)
        elif isinstance(node, ObjectType):
            items = [node]
        elif isinstance(node, ListType):
            items = node.items
        else:
            hint = f"write a list: {f.name.rsplit('.', 1)[-1]} = [ ... ]"
            raise DecodeError(self._where(node, at), f"unknown slice type: {go_type_name(node)}", name, hint)
        for i, item in enumerate(items):
            element = f"{name}[{i}]"
            if f.kind is Kind.STRING_LIST:
                result.append(self._decode_string(element, item, at))
                continue
            assert f.struct is not None
            item = _expand_object(item)
            entry = new_decoded(f.struct, self._where(item, at))
            if isinstance(item, ObjectItem) and not isinstance(item.val, ObjectType):
                entry.split_from = at
            self._decode_struct(element, item, entry, at)
            result.append(entry)
        return result

    # -- structs -----------------------------------------------------------------------------------------
    def _decode_struct(self, name: str, node: Node, target: Decoded, at: Pos) -> None:
        item: ObjectItem | None = None
        if isinstance(node, ObjectItem):
            item = node
            node = node.val
        if isinstance(node, ObjectType):
            node = node.list
        if isinstance(node, LiteralType) and item is not None:
            node = ObjectList([item])
        if not isinstance(node, ObjectList):
            hint = f"write a block: {name.rsplit('.', 1)[-1]} {{ ... }}"
            raise DecodeError(
                self._where(node, at), f"{name}: not an object type for struct ({go_type_name(node)})", name, hint
            )
        spec = target.spec
        # Go's unusedKeyPositions: unquoted (or JSON) keys, skipping multi-key items after the first.
        unused: dict[str, list[Pos]] = {}
        unused_folded: dict[str, list[str]] = {}
        by_field: dict[str, list[ObjectItem]] = {}
        first_keys: list[tuple[str, str, Pos]] = []
        for i, it in enumerate(node.items):
            if not it.keys:
                continue
            nested_json = i > 0 and len(it.keys) > 1
            for k in it.keys:
                if not nested_json and (k.token.json or k.token.type is Tok.IDENT):
                    name_ = _key_value(k)
                    if name_ not in unused:
                        unused[name_] = []
                        unused_folded.setdefault(_fold(name_), []).append(name_)
                    unused[name_].append(k.pos)
            first = _key_value(it.keys[0])
            folded = _fold(first)
            by_field.setdefault(folded, []).append(it)
            first_keys.append((first, folded, it.keys[0].pos))
        known = spec.names
        for f in spec.fields:
            found = by_field.get(f.name)
            if not found:
                continue
            for key in unused_folded.pop(f.name, ()):
                del unused[key]
            path = f"{name}.{f.name}"
            prefix = [ObjectItem(it.keys[1:], it.val) for it in found if len(it.keys) > 1]
            if prefix:
                at_key = found[0].keys[0].pos
                if f.kind is Kind.STRUCT:
                    self.warnings.append((at_key, f"a labelled {f.name} block is ignored; write {f.name} {{ ... }}"))
                target.values[f.name] = self._decode(path, ObjectList(prefix), f, target.values[f.name], at_key)
            for it in found:
                if len(it.keys) != 1:
                    continue
                at_key = it.keys[0].pos
                value: Node = it.val
                if isinstance(value, ObjectType):
                    value = ObjectList(value.list.items)
                target.values[f.name] = self._decode(path, value, f, target.values[f.name], at_key)
            target.key_pos[f.name] = found[-1].keys[0].pos
        if unused:
            target.unknown = unused
        # What Go drops without a word (quoted keys; anything in health_checks): warn at least.
        for key, folded, pos in first_keys:
            if folded in known or (spec.track_unknown and key in unused):
                continue
            where = f"in {spec.name}" if spec.name else "at top level"
            self.warnings.append((pos, f"unknown key {key!r} {where} is ignored"))


def _expand_object(node: Node) -> Node:
    # Go's expandObject: an item with two keys from flattened JSON becomes key = { key2 = value }.
    if not isinstance(node, ObjectItem) or len(node.keys) != 2:
        return node
    inner = ObjectItem(node.keys[1:], node.val)
    return ObjectItem([node.keys[0]], ObjectType(NO_POS, ObjectList([inner])))
