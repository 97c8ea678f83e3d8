"""The root's Go ``flag`` package semantics (reference section 2), tested on the parser and on main()'s wiring."""

from __future__ import annotations

import logging
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from spiffe_helper import cli
from spiffe_helper.cli import FlagError, HelpRequested, go_usage, parse_go_flags
from spiffe_helper.config.model import Config
from spiffe_helper.config.source import ConfigSource


@pytest.mark.parametrize(
    ("args", "config", "given", "rest"),
    [
        ([], "helper.conf", set(), []),
        (["-config", "x.conf"], "x.conf", {"config"}, []),
        (["--config", "x.conf"], "x.conf", {"config"}, []),
        (["-config=x.conf"], "x.conf", {"config"}, []),
        (["--config=x=y"], "x=y", {"config"}, []),
        (["-config", "a", "-config", "b"], "b", {"config"}, []),  # last wins
        (["extra", "-config", "y"], "helper.conf", set(), ["extra", "-config", "y"]),  # stops at a non-flag
        (["-config", "x", "--", "-version"], "x", {"config"}, ["-version"]),
        (["-", "-config", "x"], "helper.conf", set(), ["-", "-config", "x"]),
        (["-config", "-version"], "-version", {"config"}, []),  # a string flag takes the next arg as is
    ],
)
def test_config_flag(args: list[str], config: str, given: set[str], rest: list[str]) -> None:
    parsed = parse_go_flags(args)
    assert (parsed.values["config"], parsed.given, parsed.rest) == (config, given, rest)


@pytest.mark.parametrize(
    ("args", "value", "rest"),
    [
        (["-daemon-mode"], "true", []),
        (["-daemon-mode=false"], "false", []),
        (["--daemon-mode=0"], "0", []),
        (["-daemon-mode=F"], "F", []),
        (["-daemon-mode=TRUE"], "TRUE", []),
        # The Go gotcha: a bool flag never takes the next argument; "false" stops the parsing.
        (["-daemon-mode", "false"], "true", ["false"]),
    ],
)
def test_daemon_mode_flag(args: list[str], value: str, rest: list[str]) -> None:
    parsed = parse_go_flags(args)
    assert (parsed.values["daemon-mode"], "daemon-mode" in parsed.given, parsed.rest) == (value, True, rest)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-foo"], "flag provided but not defined: -foo"),
        (["--exitWhenReady"], "flag provided but not defined: -exitWhenReady"),
        (["-daemon-mode=maybe"], 'invalid boolean value "maybe" for -daemon-mode: parse error'),
        (["-daemon-mode="], 'invalid boolean value "" for -daemon-mode: parse error'),
        (["-config"], "flag needs an argument: -config"),
        (["---config"], "bad flag syntax: ---config"),
        (["-=x"], "bad flag syntax: -=x"),
        (["-oneshot-timeout", "soon"], 'invalid value "soon" for flag -oneshot-timeout: parse error'),
        (["-config", "x", "-nope", "-h"], "flag provided but not defined: -nope"),
    ],
)
def test_flag_errors(args: list[str], message: str) -> None:
    with pytest.raises(FlagError) as info:
        parse_go_flags(args)
    assert str(info.value) == message


@pytest.mark.parametrize("flag", ["-h", "-help", "--help", "--h"])
def test_help_flags(flag: str) -> None:
    with pytest.raises(HelpRequested):
        parse_go_flags(["-config", "x", flag])


def test_oneshot_timeout_flag_accepts_durations_and_seconds() -> None:
    assert parse_go_flags(["-oneshot-timeout", "90s"]).values["oneshot-timeout"] == "90s"
    assert cli.parse_duration_flag("2m") == 120.0
    assert cli.parse_duration_flag("45") == 45.0
    assert cli.parse_duration_flag("x") is None


def test_usage_is_gos_layout() -> None:
    text = go_usage("/usr/bin/spiffe-helper")
    assert text.startswith(
        "Usage of /usr/bin/spiffe-helper:\n"
        "  -config string\n"
        '    \t<configFile> Configuration file path (default "helper.conf")\n'
        "  -daemon-mode\n"
        "    \tToggle running as a daemon to rotate X.509/JWT or just fetch and exit (default true)\n"
        "  -oneshot-timeout duration\n"
    )
    assert "  -version\n    \tprint version\n" in text
    assert "check" in text and "dev-agent" in text


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """main() configures the spiffe_helper logger; put it back so other tests' caplog keeps working."""
    logger = logging.getLogger("spiffe_helper")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]


@pytest.fixture
def fake_app(monkeypatch: pytest.MonkeyPatch) -> list[Config]:
    """A stand-in spiffe_helper.app that records the Config main() hands it (the run itself is not ours)."""
    seen: list[Config] = []
    module = types.ModuleType("spiffe_helper.app")

    def run(config: Config, source: ConfigSource | None = None) -> int:
        # The daemon re-reads the same file with the same flag overrides on change (hot reload).
        assert source is not None and source.path.endswith(".conf")
        # Overrides are kept only when the flag was given, and then they are what the config says.
        assert source.daemon_mode in (None, config.daemon_mode)
        assert source.oneshot_timeout in (None, config.oneshot_timeout)
        seen.append(config)
        return 7

    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "spiffe_helper.app", module)
    return seen


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "helper.conf"
    path.write_text(text)
    return str(path)


X509 = 'svid_file_name = "a"\nsvid_key_file_name = "b"\nsvid_bundle_file_name = "c"\n'


def test_main_hands_the_validated_config_to_app_run(tmp_path: Path, fake_app: list[Config]) -> None:
    path = _write(tmp_path, X509 + 'oneshot_timeout = "5s"\n')
    assert cli.main(["-config", path]) == 7
    assert (fake_app[0].daemon_mode, fake_app[0].oneshot_timeout) == (True, 5.0)
    assert cli.main(["-config", path, "-daemon-mode=false", "-oneshot-timeout", "2m"]) == 7
    assert (fake_app[1].daemon_mode, fake_app[1].oneshot_timeout) == (False, 120.0)


def test_daemon_mode_flag_only_overrides_when_given(tmp_path: Path, fake_app: list[Config]) -> None:
    path = _write(tmp_path, X509 + "daemon_mode = false\n")
    cli.main(["-config", path])
    cli.main(["-config", path, "-daemon-mode"])
    assert [c.daemon_mode for c in fake_app] == [False, True]
