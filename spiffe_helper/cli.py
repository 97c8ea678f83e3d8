"""The ``spiffe-helper`` command: the Go helper's flags at the root, click subcommands beside them.

The root keeps Go's ``flag`` package semantics, which click cannot express: single-dash long flags
(``-config x``, ``-config=x``, also ``--config``), optional-value booleans (``-daemon-mode``,
``-daemon-mode=false``; ``-daemon-mode false`` leaves daemon mode on and ``false`` becomes an ignored
argument, as in Go), parsing stops at the first non-flag, ``-h``/``-help`` print Go's usage to stderr and
exit 0, an unknown flag prints ``flag provided but not defined: -foo`` plus usage and exits 2. So the root is
parsed by the small Go-compatible parser below, and only a first argument that names a subcommand goes to
click. Subcommand modules are imported only when used, so a plain run imports none of them.

This module is the only one that turns errors into exit codes.
"""

from __future__ import annotations

# ruff: noqa: E402  (the early SIGINT handler goes in before the other imports)
import _signal  # type: ignore[import-not-found]  # the C module: ``signal`` would first import enum, itself interruptible


def _early_sigint(signum: int, frame: object) -> None:
    raise SystemExit(130)  # Ctrl-C while this module is still importing: quiet exit, the shell's code


_signal.signal(_signal.SIGINT, _early_sigint)

import contextlib
import importlib
import os
import sys

from spiffe_helper.errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, ConfigError, SpiffeHelperError

# Not ``typing.TYPE_CHECKING``: ``-version`` and ``-h`` import neither typing nor logging (~15 ms cold);
# mypy treats any name TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging
    from collections.abc import Sequence

# name -> "module:attribute" of a click.Command, imported on first use (by spiffe_helper.cli_commands).
SUBCOMMANDS: dict[str, str] = {
    "check": "spiffe_helper.config.check_cmd:check",
    "dev-agent": "spiffe_helper.devagent.cli:dev_agent",
    "inspect": "spiffe_helper.inspect:inspect",
    "demo": "spiffe_helper.demo:demo",
}
_SUMMARIES = {
    "check": "validate a configuration file and print the effective configuration",
    "dev-agent": "run a development SPIFFE Workload API agent",
    "inspect": "show the credentials written on disk",
    "demo": "run the Coastal Containers demo",
}


# -- Go flag package -------------------------------------------------------------------------------------
# Plain classes, not dataclasses: the dataclasses module (with inspect) costs ``-version`` ~10 ms.
class GoFlag:
    """One root flag: ``kind`` is "bool", "string" or "duration" (Go's flag types)."""

    __slots__ = ("default", "kind", "name", "usage")

    def __init__(self, name: str, kind: str, usage: str, default: str = "") -> None:
        self.name = name
        self.kind = kind
        self.usage = usage
        self.default = default

    def __repr__(self) -> str:
        return f"GoFlag({self.name!r}, {self.kind!r}, {self.usage!r}, {self.default!r})"


ROOT_FLAGS = (
    GoFlag("config", "string", "<configFile> Configuration file path", "helper.conf"),
    GoFlag("daemon-mode", "bool", "Toggle running as a daemon to rotate X.509/JWT or just fetch and exit", "true"),
    GoFlag(
        "oneshot-timeout",
        "duration",
        "How long a one-shot run (-daemon-mode=false) waits for the agent and an identity, e.g. 90s or 2m\n"
        "(overrides oneshot_timeout; default 60s)",
    ),
    GoFlag("version", "bool", "print version", "false"),
)


class FlagError(Exception):
    """A command-line error; ``str()`` is Go's message (printed before the usage, exit 2)."""


class HelpRequested(Exception):
    """``-h``/``-help``/``--help``: usage on stderr, exit 0."""


class ParsedFlags:
    """Flag values (as given, already checked), which flags were set, and the ignored positional args."""

    __slots__ = ("given", "rest", "values")

    def __init__(self, values: dict[str, str], given: set[str], rest: list[str]) -> None:
        self.values = values
        self.given = given
        self.rest = rest

    def __repr__(self) -> str:
        return f"ParsedFlags({self.values!r}, {self.given!r}, {self.rest!r})"


def _go_bool(text: str) -> bool | None:
    return {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True}.get(
        text, {"0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}.get(text)
    )


def parse_duration_flag(text: str) -> float | None:
    """Seconds from a Go duration (``90s``, ``2m``) or a plain number of seconds; None when invalid."""
    from spiffe_helper.config.gostrconv import GoSyntaxError, parse_duration

    try:
        return parse_duration(text)
    except GoSyntaxError:
        try:
            return float(text)
        except ValueError:
            return None


def parse_go_flags(args: Sequence[str], flags: Sequence[GoFlag] = ROOT_FLAGS) -> ParsedFlags:
    """Go's ``flag.FlagSet.Parse``: raises :class:`FlagError` or :class:`HelpRequested`."""
    formal = {f.name: f for f in flags}
    values = {f.name: f.default for f in flags}
    given: set[str] = set()
    args = list(args)
    while args:
        s = args[0]
        if len(s) < 2 or s[0] != "-":
            break
        minuses = 2 if s[1] == "-" else 1
        if s == "--":
            args.pop(0)
            break
        name = s[minuses:]
        if not name or name[0] in "-=":
            raise FlagError(f"bad flag syntax: {s}")
        args.pop(0)
        value: str | None = None
        if "=" in name[1:]:
            cut = name.index("=", 1)
            name, value = name[:cut], name[cut + 1 :]
        flag = formal.get(name)
        if flag is None:
            if name in ("help", "h"):
                raise HelpRequested()
            raise FlagError(f"flag provided but not defined: -{name}")
        if flag.kind == "bool":
            if value is None:
                value = "true"
            elif _go_bool(value) is None:
                raise FlagError(f'invalid boolean value "{value}" for -{name}: parse error')
        else:
            if value is None:
                if not args:
                    raise FlagError(f"flag needs an argument: -{name}")
                value = args.pop(0)
            if flag.kind == "duration" and parse_duration_flag(value) is None:
                raise FlagError(f'invalid value "{value}" for flag -{name}: parse error')
        values[name] = value
        given.add(name)
    return ParsedFlags(values, given, args)


def go_usage(argv0: str, flags: Sequence[GoFlag] = ROOT_FLAGS) -> str:
    """Go's ``flag.PrintDefaults`` layout (flags sorted by name), then our subcommands."""
    lines = [f"Usage of {argv0}:"]
    for f in sorted(flags, key=lambda f: f.name):
        head = f"  -{f.name}" + ("" if f.kind == "bool" else f" {f.kind}")
        usage = f.usage.replace("\n", "\n    \t")
        if f.kind == "string" and f.default:
            usage += f' (default "{f.default}")'
        elif f.kind == "bool" and f.default == "true":
            usage += " (default true)"
        lines.append(f"{head}\n    \t{usage}")
    lines.append("")
    lines.append("Commands (spiffe-helper COMMAND --help):")
    lines += [f"  {name:<10}  {_SUMMARIES.get(name, '')}" for name in SUBCOMMANDS]
    return "\n".join(lines) + "\n"


# -- subcommands -----------------------------------------------------------------------------------------
def _run_subcommand(argv: list[str]) -> int:
    # click and the lazy group live in cli_commands: a root run, -h and -version never import click.
    from spiffe_helper.cli_commands import run_subcommand

    return run_subcommand(argv)


# -- the root run ----------------------------------------------------------------------------------------
def _logger() -> logging.Logger:
    from spiffe_helper.logs import get_logger, setup_logging

    setup_logging("info", "text")
    return get_logger()


def _apply_file_logging(parsed: object) -> None:
    """Use the file's log_level/log_format before validation warnings are logged (as PR #440 does)."""
    from spiffe_helper.config.loader import ParsedConfig
    from spiffe_helper.logs import setup_logging

    if not isinstance(parsed, ParsedConfig):
        return
    level = str(parsed.root.values.get("log_level") or "info")
    fmt = str(parsed.root.values.get("log_format") or "text")
    with contextlib.suppress(ValueError):  # validation reports the bad value
        setup_logging(level, fmt if fmt in ("text", "json") else "text")


def _run_root(flags: ParsedFlags) -> int:
    from spiffe_helper.gcpolicy import deferred_collection

    with deferred_collection():  # no garbage collection while the run's modules load (see gcpolicy)
        return _load_and_run(flags)


def _load_and_run(flags: ParsedFlags) -> int:
    from spiffe_helper.config.gostrconv import go_quote
    from spiffe_helper.config.loader import parse_file
    from spiffe_helper.config.validate import validate

    log = _logger()
    for arg in flags.rest:
        hint = " (write -daemon-mode=false)" if arg in ("false", "true") else ""
        log.warning(f"ignoring command-line argument {go_quote(arg)}{hint}")
    path = flags.values["config"]
    log.info(f"Using configuration file: {go_quote(path)}")
    try:
        parsed = parse_file(path)
    except ConfigError as e:
        error = f"failed to parse {go_quote(path)}: {e}"
        log.error("failed to parse configuration", extra={"fields": {"error": error}})
        return EXIT_FAILURE
    _apply_file_logging(parsed)
    daemon = _go_bool(flags.values["daemon-mode"]) if "daemon-mode" in flags.given else None
    timeout = parse_duration_flag(flags.values["oneshot-timeout"]) if "oneshot-timeout" in flags.given else None
    try:
        config = validate(parsed, daemon_mode=daemon, oneshot_timeout=timeout, environ=os.environ)
    except ConfigError as e:
        log.error("invalid configuration", extra={"fields": {"error": str(e)}})
        return EXIT_FAILURE
    app = importlib.import_module("spiffe_helper.app")  # looked up in sys.modules: tests put a stand-in there
    try:
        # config.source, not runs.service: a one-shot run must not import the daemon's modules.
        from spiffe_helper.config.source import ConfigSource

        # The source lets the daemon re-read the file on change with the same flag overrides (hot reload).
        return int(app.run(config, ConfigSource(path, daemon_mode=daemon, oneshot_timeout=timeout)))
    except SpiffeHelperError as e:
        log.error("Error starting spiffe-helper", extra={"fields": {"error": str(e)}})
        return e.exit_code
    except KeyboardInterrupt:
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``spiffe-helper`` console script; returns the exit code.

    Ctrl-C before the run installs its own signal handling (start-up, subcommands) ends with 130, the
    shell's code for SIGINT, and no traceback.
    """
    try:
        _signal.signal(_signal.SIGINT, _signal.default_int_handler)  # KeyboardInterrupt from here on
        return _main(argv)
    except KeyboardInterrupt:
        return 130


def _main(argv: Sequence[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in SUBCOMMANDS:
        return _run_subcommand(args)
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else "spiffe-helper"
    try:
        flags = parse_go_flags(args)
    except HelpRequested:
        sys.stderr.write(go_usage(argv0))
        return EXIT_OK
    except FlagError as e:
        sys.stderr.write(f"{e}\n{go_usage(argv0)}")
        return EXIT_USAGE
    if _go_bool(flags.values["version"]):
        from spiffe_helper import __version__

        print(__version__)
        return EXIT_OK
    return _run_root(flags)


if __name__ == "__main__":
    sys.exit(main())
