"""Property: any input gives a Config or a ConfigError that names a position, never another exception."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spiffe_helper.config.loader import parse_text
from spiffe_helper.config.model import Config
from spiffe_helper.config.validate import validate
from spiffe_helper.errors import ConfigError, ConfigParseError

EXAMPLE = Path(__file__).resolve().parents[2] / "conf" / "helper.conf.example"
SEEDS = [
    'agent_address = "/tmp/agent.sock"\nsvid_file_name = "a"\nsvid_key_file_name = "b"\nsvid_bundle_file_name = "c"\n',
    'jwt_svids = [{jwt_audience="a", jwt_svid_file_name="f", jwt_extra_audiences=["x", 1]}]\n'
    'jwt_bundle_file_name = "j"\n',
    'health_checks {\n  listener_enabled = true\n  bind_port = "8081"\n}\ncert_file_mode = 0644\ndaemon_mode = false\n',
    'cmd_args = <<EOF\n-c "x"\nEOF\n/* c */ // d\n# e\nstart {\n cmd = "x"\n args = ["a"]\n}\n'
    'reload { signal = "SIGHUP" }\n',
    '{"svid_file_name": "a", "jwt_svids": [{"jwt_audience": "a"}], "health_checks": {"bind_port": 1}, "x": null}',
    EXAMPLE.read_text(),
]
ALPHABET = st.sampled_from([*"{}[]=,\"\\/#*<>-+.:$\n\r\t abcdefxEOT0123456789_'", "\u00e9", "\ufeff", "\x00", "\udcff"])


def _check(text: str, file: str = "helper.conf") -> None:
    try:
        config = validate(parse_text(text, file=file), environ={}, warn=lambda _m: None)
    except ConfigParseError as e:
        assert e.file == file
        assert e.line is not None and 1 <= e.line <= text.count("\n") + text.count("\r") + 2, (e.line, str(e))
        return
    except ConfigError as e:
        assert e.file == file
        return
    assert isinstance(config, Config)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        if not text:
            break
        i = draw(st.integers(0, len(text) - 1))
        j = draw(st.integers(i, min(len(text), i + 8)))
        op = draw(st.sampled_from(["delete", "insert", "replace", "duplicate"]))
        piece = draw(st.text(ALPHABET, max_size=4))
        if op == "delete":
            text = text[:i] + text[j:]
        elif op == "insert":
            text = text[:i] + piece + text[i:]
        elif op == "replace":
            text = text[:i] + piece + text[j:]
        else:
            text = text[:j] + text[i:j] + text[j:]
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_configs(text: str) -> None:
    _check(text)


@settings(max_examples=200, deadline=None)
@given(st.text(ALPHABET, max_size=120))
def test_random_text(text: str) -> None:
    _check(text)


KEYS = st.sampled_from(
    [
        "agent_address",
        "cmd",
        "cmd_args",
        "cert_dir",
        "cert_file_mode",
        "daemon_mode",
        "health_checks",
        "jwt_svids",
        "svid_file_name",
        "svid_key_file_name",
        "svid_bundle_file_name",
        "jwt_bundle_file_name",
        "pid_file_name",
        "renew_signal",
        "oneshot_timeout",
        "start",
        "reload",
        "Log_Level",
        "bogus",
    ]
)
VALUES = st.recursive(
    st.sampled_from(["true", "false", "0", "0644", "08", "-1", "1.5", '""', '"x"', '"0600"', '"/a/../b"', '"90s"']),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.lists(st.tuples(KEYS, inner), max_size=3).map(lambda kv: "{" + " ".join(f"{k} = {v}" for k, v in kv) + "}"),
    ),
    max_leaves=6,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(KEYS, st.booleans(), VALUES), max_size=8))
def test_structured_configs_in_hcl_and_toml_shapes(items: list[tuple[str, bool, str]]) -> None:
    text = "\n".join(f"{k} {v}" if block and v.startswith("{") else f"{k} = {v}" for k, block, v in items) + "\n"
    _check(text)
    _check(text, file="helper.toml")
