"""Validation in the Go helper's order with its exact messages and warnings, then our own rules.

Go's ``ValidateConfig`` (reference section 4.5) comes first, untouched, so every file is accepted exactly when
the Go helper accepts it and fails with the same message. Our rules come after it and only concern our own
keys, or things Go would fail on later at run time. Warnings go to a callback (the logger by default).
"""

from __future__ import annotations

import logging
import math
import os
import signal
from collections.abc import Callable, Mapping

from spiffe_helper.config.decoder import Decoded
from spiffe_helper.config.gostrconv import go_quote
from spiffe_helper.config.loader import ParsedConfig
from spiffe_helper.config.model import (
    DEFAULT_AGENT_ADDRESS,
    DEFAULT_BIND_PORT,
    DEFAULT_CERT_FILE_MODE,
    DEFAULT_JWT_BUNDLE_FILE_MODE,
    DEFAULT_JWT_SVID_FILE_MODE,
    DEFAULT_KEY_FILE_MODE,
    DEFAULT_LIVENESS_PATH,
    DEFAULT_ONESHOT_TIMEOUT,
    DEFAULT_READINESS_PATH,
    DEFAULT_SHUTDOWN_GRACE_PERIOD,
    FILE_LAYOUTS,
    LOG_FORMATS,
    RESTART_POLICIES,
    Config,
    HealthChecksConfig,
    JwtSvidConfig,
    ReloadConfig,
    StartConfig,
    go_path_join,
)
from spiffe_helper.config.validate_ours import Checker, check_file_names, lifecycle_conflicts, log_level, reject_nul
from spiffe_helper.process.cmdargs import CmdArgsError, split_cmd_args

log = logging.getLogger("spiffe_helper.config")

X509_KEYS = ("svid_file_name", "svid_key_file_name", "svid_bundle_file_name")
_JWT_SPLIT_HINT = (
    "jwt_svids at line {line} is a block or a single object, which the Go helper splits into one entry per"
    ' attribute; write jwt_svids = [{{ jwt_audience = "...", jwt_svid_file_name = "..." }}]'
)
_JWT_JSON_HINT = (
    "in a JSON file the Go helper splits every jwt_svids object into one entry per key, so JSON cannot"
    " configure JWT SVIDs; use HCL (jwt_svids = [{...}]) or a .toml file ([[jwt_svids]])"
)


def validate(
    parsed: ParsedConfig,
    *,
    daemon_mode: bool | None = None,
    oneshot_timeout: float | None = None,
    environ: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Config:
    """The effective configuration, or :class:`~spiffe_helper.errors.ConfigValidationError`.

    ``daemon_mode`` and ``oneshot_timeout`` are command-line overrides (None when the flag was not given);
    ``environ`` supplies ``SPIFFE_ENDPOINT_SOCKET`` (the process environment by default).
    """
    say = warn if warn is not None else log.warning
    env = environ if environ is not None else os.environ
    c = Checker(parsed)
    root = parsed.root
    v = root.values
    for pos, message in parsed.warnings:
        say(f"{parsed.file}:{pos.line}: {message}" if pos.valid else f"{parsed.file}: {message}")

    # Go's ParseConfigFlagOverrides: the flag wins when given, an unset daemon_mode means true.
    file_daemon = v["daemon_mode"]
    daemon = daemon_mode if daemon_mode is not None else (True if file_daemon is None else bool(file_daemon))

    # 1. Unknown keys (PR #410 adds start/reload between the top level and jwt_svids).
    start_block, reload_block = v["start"], v["reload"]
    assert isinstance(start_block, Decoded) and isinstance(reload_block, Decoded)
    c.unknown(root, "unknown top level key(s)")
    c.unknown(start_block, "unknown key(s) in start")
    c.unknown(reload_block, "unknown key(s) in reload")
    listed = v["jwt_svids"]
    entries: list[Decoded] = [e for e in listed if isinstance(e, Decoded)] if isinstance(listed, list) else []
    for i, entry in enumerate(entries):
        c.unknown(entry, f"unknown key(s) in jwt_svids[{i}]")
    lifecycle_conflicts(c, root, start_block, reload_block)

    # 3. jwt_svids entries, in order: file name first (Go's message names the key wrongly), then audience.
    split = next((e.split_from for e in entries if e.split_from is not None), None)
    hint = None
    if parsed.format == "json" and entries:
        hint = _JWT_JSON_HINT
    elif split is not None:
        hint = _JWT_SPLIT_HINT.format(line=split.line)
    for entry in entries:
        if entry.get_str("jwt_svid_file_name") == "":
            c.fail("'jwt_file_name' is required in 'jwt_svids'", block=entry, hint=hint)
        if entry.get_str("jwt_audience") == "":
            c.fail("'jwt_audience' is required in 'jwt_svids'", block=entry, hint=hint)

    # 4. agent_address: the file, then $SPIFFE_ENDPOINT_SOCKET (verbatim, as Go), then the default.
    agent_address = root.get_str("agent_address") or env.get("SPIFFE_ENDPOINT_SOCKET", "") or DEFAULT_AGENT_ADDRESS

    cmd, renew_signal, pid_file = root.get_str("cmd"), root.get_str("renew_signal"), root.get_str("pid_file_name")
    start_cmd, reload_cmd = start_block.get_str("cmd"), reload_block.get_str("cmd")
    reload_signal, reload_pid = reload_block.get_str("signal"), reload_block.get_str("pid_file_name")
    # 5. One-shot mode: Go warns about cmd/renew_signal and rejects pid_file_name.
    if not daemon:
        ignored = (
            ("cmd", cmd),
            ("renew_signal", renew_signal),
            ("start.cmd", start_cmd),
            ("reload.cmd", reload_cmd),
            ("reload.signal", reload_signal),
        )
        for key, value in ignored:
            if value:
                say(
                    f"{key} is set but daemon_mode is false. {key} will be ignored."
                    " This may become an error in a future release."
                )
        if pid_file or reload_pid:
            c.fail(
                "pid_file_name is set but daemon_mode is false. pid_file_name is only supported in daemon_mode",
                "pid_file_name",
                block=None if pid_file else reload_block,
            )
    # 6. A PID file needs a signal (cmd without renew_signal is fine since v0.9.1).
    if pid_file and not (renew_signal or reload_signal):
        c.fail("must specify renew_signal when using pid_file_name", "pid_file_name")
    if reload_pid and not (renew_signal or reload_signal):
        c.fail("must specify reload.signal when using reload.pid_file_name", "pid_file_name", block=reload_block)

    # 7./8. What to write.
    names = [root.get_str(k) for k in X509_KEYS]
    if any(names) and not all(names):
        c.fail(
            "all or none of 'svid_file_name', 'svid_key_file_name', 'svid_bundle_file_name' must be specified",
            next(k for k, n in zip(X509_KEYS, names, strict=True) if n),
        )
    if not all(names) and not root.get_str("jwt_bundle_file_name") and not entries:
        c.fail(
            "at least one of the sets ('svid_file_name', 'svid_key_file_name', 'svid_bundle_file_name'),"
            " 'jwt_svids', or 'jwt_bundle_file_name' must be fully specified"
        )

    # 9. File modes: negative is an error, 0 means the default.
    modes: dict[str, int] = {}
    for key, what, default in (
        ("cert_file_mode", "cert file mode", DEFAULT_CERT_FILE_MODE),
        ("key_file_mode", "key file mode", DEFAULT_KEY_FILE_MODE),
        ("jwt_bundle_file_mode", "jwt bundle file mode", DEFAULT_JWT_BUNDLE_FILE_MODE),
        ("jwt_svid_file_mode", "jwt svid file mode", DEFAULT_JWT_SVID_FILE_MODE),
    ):
        mode = v[key]
        assert isinstance(mode, int)
        if mode < 0:
            c.fail(f"{what} must be positive", key)
        modes[key] = mode or default

    # 10. Health checks: defaults only when the listener is enabled (Go leaves zeros otherwise).
    health_block = v["health_checks"]
    assert isinstance(health_block, Decoded)
    health = _health(c, health_block, daemon, say)

    # Ours, after every Go rule.
    level = log_level(c, root)
    fmt = root.get_str("log_format") or "text"
    if fmt not in LOG_FORMATS:
        c.fail(f"log_format {go_quote(fmt)} is not one of {', '.join(LOG_FORMATS)}", "log_format")
    layout = root.get_str("file_layout") or "atomic_dir"
    if layout not in FILE_LAYOUTS:
        c.fail(f"file_layout {go_quote(layout)} is not one of {', '.join(FILE_LAYOUTS)}", "file_layout")
    timeout = _seconds(c, root, "oneshot_timeout", oneshot_timeout, DEFAULT_ONESHOT_TIMEOUT)
    grace = _seconds(c, root, "shutdown_grace_period", None, DEFAULT_SHUTDOWN_GRACE_PERIOD)
    reject_nul(c, root, start_block, reload_block, entries)
    check_file_names(c, root, entries)
    start = _start(c, root, start_block)
    reload = _reload(c, root, reload_block)
    cmd_args = v["cmd_args"]
    assert isinstance(cmd_args, str | tuple)
    if isinstance(cmd_args, str) and cmd_args and cmd:
        try:
            split_cmd_args(cmd_args)
        except CmdArgsError as e:
            say(f"cmd_args cannot be split into arguments ({e}); starting cmd will fail")
    for key, sig in (("renew_signal", renew_signal), ("reload.signal", reload_signal)):
        if sig and sig not in signal.Signals.__members__:
            say(f"{key} {go_quote(sig)} is not a signal name (names are like SIGHUP or SIGUSR1); signalling will fail")

    jwt_svids = tuple(
        JwtSvidConfig(
            jwt_audience=e.get_str("jwt_audience"),
            jwt_extra_audiences=_strings(e.values["jwt_extra_audiences"]),
            jwt_svid_file_name=e.get_str("jwt_svid_file_name"),
        )
        for e in entries
    )
    return Config(
        agent_address=agent_address,
        cmd=cmd,
        cmd_args=cmd_args,
        pid_file_name=pid_file,
        cert_dir=root.get_str("cert_dir"),
        cert_file_mode=modes["cert_file_mode"],
        key_file_mode=modes["key_file_mode"],
        jwt_bundle_file_mode=modes["jwt_bundle_file_mode"],
        jwt_svid_file_mode=modes["jwt_svid_file_mode"],
        include_federated_domains=bool(v["include_federated_domains"]),
        omit_expired=bool(v["omit_expired"]),
        renew_signal=renew_signal,
        daemon_mode=daemon,
        add_intermediates_to_bundle=bool(v["add_intermediates_to_bundle"]),
        hint=root.get_str("hint"),
        svid_file_name=names[0],
        svid_key_file_name=names[1],
        svid_bundle_file_name=names[2],
        jwt_bundle_file_name=root.get_str("jwt_bundle_file_name"),
        jwt_svids=jwt_svids,
        health_checks=health,
        log_level=level,
        log_format=fmt,
        oneshot_timeout=timeout,
        file_layout=layout,
        shutdown_grace_period=grace,
        start=start,
        reload=reload,
    )


def _strings(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    assert isinstance(value, list)
    return tuple(str(v) for v in value)


def _health(c: Checker, block: Decoded, daemon: bool, say: Callable[[str], None]) -> HealthChecksConfig:
    enabled = bool(block.values["listener_enabled"])
    port = block.values["bind_port"]
    assert isinstance(port, int)
    live, ready = block.get_str("liveness_path"), block.get_str("readiness_path")
    if enabled:
        if port < 0:
            c.fail("bind port must be positive", "bind_port", block=block)
        port = port or DEFAULT_BIND_PORT
        live = live or DEFAULT_LIVENESS_PATH
        ready = ready or DEFAULT_READINESS_PATH
        if daemon:
            # Go's HTTP mux panics on these at start-up (exit 1); say so before anything runs.
            for key, path in (("liveness_path", live), ("readiness_path", ready)):
                if not path.startswith("/"):
                    c.fail(f"health_checks.{key} {go_quote(path)} must start with /", key, block=block)
            if live == ready:
                c.fail(
                    "health_checks.readiness_path must differ from health_checks.liveness_path",
                    "readiness_path",
                    block=block,
                )
            if port > 65535:
                say(f"health_checks.bind_port {port} is not a TCP port; the health server will not start")
    return HealthChecksConfig(enabled, port, live, ready, block.get_str("bind_address"))


def _seconds(c: Checker, root: Decoded, key: str, override: float | None, default: float) -> float:
    value = override if override is not None else root.values[key]
    if value is None:
        return default
    assert isinstance(value, float | int)
    if value < 0 or not math.isfinite(value):
        c.fail(f"{key} must be zero or more seconds", key)
    return float(value)


def _argv(c: Checker, block: Decoded, name: str) -> tuple[str, ...]:
    args = block.values["args"]
    if isinstance(args, tuple):
        return args
    assert isinstance(args, str)
    if not args:
        return ()
    try:
        return tuple(split_cmd_args(args))
    except CmdArgsError as e:
        c.fail(f"{name}.args: {e}", "args", block=block)


def _start(c: Checker, root: Decoded, block: Decoded) -> StartConfig | None:
    if "start" not in root.key_pos:
        return None
    if not block.get_str("cmd"):
        c.fail("'cmd' is required in 'start'", "start")
    restart = block.get_str("restart") or "never"
    if restart not in RESTART_POLICIES:
        c.fail(f"start.restart {go_quote(restart)} is not one of {', '.join(RESTART_POLICIES)}", "restart", block=block)
    return StartConfig(block.get_str("cmd"), _argv(c, block, "start"), restart)  # type: ignore[arg-type]


def _reload(c: Checker, root: Decoded, block: Decoded) -> ReloadConfig | None:
    if "reload" not in root.key_pos:
        return None
    cmd = block.get_str("cmd")
    args = _argv(c, block, "reload")
    if args and not cmd:
        c.fail("reload.args needs reload.cmd", "args", block=block)
    return ReloadConfig(block.get_str("signal"), cmd, args, block.get_str("pid_file_name"))


__all__ = ["X509_KEYS", "go_path_join", "validate"]
