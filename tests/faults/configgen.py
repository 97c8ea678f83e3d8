"""A generator of helper.conf files, good and bad, in HCL, JSON and TOML, from one ``random.Random``.

Keys come from the decoder's schema (so new keys are covered as they are added), values from per-kind
pools that mix valid values, wrong types and edge cases (octal and hex literals, huge numbers, ``..``
paths, unknown signals, heredocs). Structs appear as blocks or as assignments, struct lists as repeated
blocks or as lists. A share of the files is then damaged byte-wise, so the parsers' errors are exercised
too. Pure: the same seed gives the same file.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from spiffe_helper.config.decoder import Field, Kind, StructSpec
from spiffe_helper.config.schema import ROOT


class Raw(str):
    """An HCL literal written as is (``0644``, ``0x1A4``, ``1e3``); JSON and TOML get a plain stand-in."""

    __slots__ = ()


LONG = "x" * 300
# Values of the right type (valid or not for the key), and values of a wrong type.
GOOD: dict[Kind, list[object]] = {
    Kind.BOOL: [True, False],
    Kind.OPT_BOOL: [True, False],
    Kind.INT: [
        *(Raw(s) for s in ("0644", "0600", "0400", "0755", "0640", "0x1A4")),
        *(420, 384, 0, -1, 2**63, 10**30, 65535, 8081, 70000),
    ],
    Kind.STRING: [
        "",
        "/tmp/agent.sock",
        "unix:///tmp/agent.sock",
        "tcp://127.0.0.1:8081",
        "unix:/relative.sock",
        "certs",
        "/tmp/out",
        "../escape",
        "..data",
        "a/b.pem",
        "svid.pem",
        "key.pem",
        "bundle.pem",
        "é",
        LONG,
        "SIGHUP",
        "SIGUSR1",
        "SIGBOGUS",
        "HUP",
        "debug",
        "trace",
        "json",
        "text",
        "atomic_dir",
        "plain",
        "/ready",
        "live",
        "127.0.0.1",
        "::1",
        "always",
        "on-failure",
        "never",
        "sometimes",
        "line\nbreak",
        'quote"inside',
        "back\\slash",
    ],
    Kind.STRING_LIST: [["a", "b"], [], ["x"], [""], ["é", LONG]],
    Kind.DURATION: ["90s", "2m", "1h30m", "-1s", "0", "", "abc", "9999999999h", "1.5s", "5", 5, 1.5, -3, 0],
    Kind.ARGS: ["-c 'x y'", '"unterminated', "a b  c", "", "a\nb", ["-c", "x"], []],
}
BAD: dict[Kind, list[object]] = {
    Kind.BOOL: ["true", "false", 1, 0, "yes", Raw("1e3"), [], {}],
    Kind.OPT_BOOL: ["false", 0, "no", ["x"]],
    Kind.INT: [1.5, "0644", "abc", Raw("08"), True, []],
    Kind.STRING: [5, True, ["x"], {"k": "v"}, 1.5],
    Kind.STRING_LIST: ["a", [1], [["x"]], 3],
    Kind.DURATION: [True, [], {"s": 1}],
    Kind.ARGS: [[1, "x"], 7, {"a": "b"}],
}
WRONG_TYPE = 0.06  # per value: most files decode, so validation and the start-up checks run too
UNKNOWN_KEYS = ["bogus_key", "Agent_Address", "svid_file", "health_check", "jwt_svid", "x"]
MUTATION_ALPHABET = "{}[]=,\"\\/#*<>-+.:$\n\t abcdefxEOT0123456789_'\u00e9\ufeff\x00"


@dataclass(frozen=True)
class Generated:
    """One generated file: its text, the name it is parsed under, and what went into it."""

    text: str
    file: str
    fmt: str
    top_keys: tuple[str, ...]
    mutated: bool


def _value(rng: random.Random, field: Field, depth: int = 0) -> object:
    if field.kind is Kind.STRUCT:
        if rng.random() < WRONG_TYPE:
            return rng.choice(["x", ["a"], 3])
        assert field.struct is not None
        return _struct(rng, field.struct, depth + 1)
    if field.kind is Kind.STRUCT_LIST:
        assert field.struct is not None
        if rng.random() < WRONG_TYPE:
            return rng.choice(["x", 3, _struct(rng, field.struct, depth + 1)])
        return [_struct(rng, field.struct, depth + 1) for _ in range(rng.randint(0, 3))]
    return rng.choice(BAD[field.kind] if rng.random() < WRONG_TYPE else GOOD[field.kind])


def _struct(rng: random.Random, spec: StructSpec, depth: int) -> dict[str, object]:
    fields = rng.sample(spec.fields, rng.randint(0, len(spec.fields)))
    body = {f.name: _value(rng, f, depth) for f in fields}
    if rng.random() < 0.1:
        body[rng.choice(UNKNOWN_KEYS)] = rng.choice(GOOD[Kind.STRING])
    return body


def _document(rng: random.Random) -> dict[str, object]:
    fields = list(ROOT.fields)
    doc: dict[str, object] = {}
    if rng.random() < 0.7:  # a complete X.509 set gets past the first rule, so later rules run too
        for name in ("svid_file_name", "svid_key_file_name", "svid_bundle_file_name"):
            doc[name] = rng.choice(["svid.pem", "key.pem", "bundle.pem", "a/b.pem", "..data", "", "x"])
    for f in rng.sample(fields, rng.randint(0, 12)):
        doc[f.name] = _value(rng, f)
    if rng.random() < 0.1:
        doc[rng.choice(UNKNOWN_KEYS)] = rng.choice(GOOD[Kind.STRING])
    return doc


# -- HCL -------------------------------------------------------------------------------------------------
def _hcl_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _hcl(rng: random.Random, v: object, indent: str = "") -> str:
    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        if "\n" in v and rng.random() < 0.5:
            return f"<<EOF\n{v}\nEOF\n"
        return _hcl_string(v)
    if isinstance(v, list):
        return "[" + ", ".join(_hcl(rng, x, indent) for x in v) + "]"
    if isinstance(v, dict):
        inner = indent + "  "
        items = "".join(f"{inner}{k} = {_hcl(rng, x, inner)}\n" for k, x in v.items())
        return "{\n" + items + indent + "}"
    raise TypeError(type(v))


def render_hcl(rng: random.Random, doc: dict[str, object]) -> str:
    """HCL1: assignments, blocks for structs (sometimes), repeated blocks for struct lists (sometimes)."""
    out = []
    for key, v in doc.items():
        if rng.random() < 0.05:
            out.append(rng.choice(["# comment", "// comment", "/* block\ncomment */"]))
        if isinstance(v, dict) and rng.random() < 0.6:
            out.append(f"{key} {_hcl(rng, v)}")
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v) and rng.random() < 0.5:
            out += [f"{key} {_hcl(rng, x)}" for x in v]
        else:
            out.append(f"{key} = {_hcl(rng, v)}")
    return "\n".join(out) + "\n"


# -- JSON and TOML ---------------------------------------------------------------------------------------
def _plain(v: object) -> object:
    if isinstance(v, Raw):
        try:
            return int(str(v), 0) if not str(v).startswith("0") or str(v).startswith("0x") else int(str(v), 8)
        except ValueError:
            return str(v)
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


_TOML_ESCAPES = {"\\": "\\\\", '"': '\\"', "\t": "\\t", "\n": "\\n"}


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return '"' + "".join(_TOML_ESCAPES.get(c) or (c if c >= " " else f"\\u{ord(c):04x}") for c in v) + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def render_toml(rng: random.Random, doc: dict[str, object]) -> str:
    """TOML: scalars first, then ``[table]`` / ``[[array of tables]]`` (or inline forms, sometimes)."""
    doc = {k: _plain(v) for k, v in doc.items()}
    head, tail = [], []
    for key, v in doc.items():
        if isinstance(v, dict) and rng.random() < 0.7:
            tail.append(f"[{key}]\n" + "".join(f"{k} = {_toml_value(x)}\n" for k, x in v.items()))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v) and rng.random() < 0.7:
            for x in v:
                assert isinstance(x, dict)
                tail.append(f"[[{key}]]\n" + "".join(f"{k} = {_toml_value(y)}\n" for k, y in x.items()))
        else:
            head.append(f"{key} = {_toml_value(v)}")
    return "\n".join(head) + "\n" + "\n".join(tail)


def mutate(rng: random.Random, text: str) -> str:
    """One to three small edits: delete, insert, replace or duplicate a few characters."""
    for _ in range(rng.randint(1, 3)):
        if not text:
            break
        i = rng.randrange(len(text))
        j = min(len(text), i + rng.randint(0, 8))
        piece = "".join(rng.choice(MUTATION_ALPHABET) for _ in range(rng.randint(0, 4)))
        op = rng.randrange(4)
        if op == 0:
            text = text[:i] + text[j:]
        elif op == 1:
            text = text[:i] + piece + text[i:]
        elif op == 2:
            text = text[:i] + piece + text[j:]
        else:
            text = text[:j] + text[i:j] + text[j:]
    return text


def generate(rng: random.Random) -> Generated:
    """One helper.conf: 70% HCL, 15% JSON, 15% TOML; 30% of them damaged."""
    doc = _document(rng)
    roll = rng.random()
    if roll < 0.7:
        fmt, file, text = "hcl", "helper.conf", render_hcl(rng, doc)
    elif roll < 0.85:
        fmt, file, text = "json", "helper.json", json.dumps(_plain(doc), indent=rng.choice([None, 2]))
    else:
        fmt, file, text = "toml", "helper.toml", render_toml(rng, doc)
    mutated = rng.random() < 0.3
    if mutated:
        text = mutate(rng, text)
    return Generated(text, file, fmt, tuple(doc), mutated)
