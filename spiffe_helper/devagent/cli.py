"""``spiffe-helper dev-agent``: run the development Workload API agent until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import click

from spiffe_helper.devagent.agent import DevAgent
from spiffe_helper.devagent.durations import parse_duration
from spiffe_helper.devagent.errors import DevAgentError
from spiffe_helper.devagent.registrations import (
    RegistrationError,
    SocketRegistration,
    load_registration_file,
    parse_identity_option,
)
from spiffe_helper.devagent.settings import AgentSettings
from spiffe_helper.errors import ConfigError

log = logging.getLogger("spiffe_helper.devagent")

HELP = """Run a development SPIFFE Workload API agent (no SPIRE needed).

\b
Each registered identity gets its own Unix socket, SOCKET_DIR/NAME.sock
(gRPC gives the agent no caller credentials, so the socket is the identity):
  --identity server=spiffe://example.org/server
  --identity web=spiffe://example.org/a#hintA,spiffe://example.org/b#hintB
  --identity nobody=          (a socket with no identity: PERMISSION_DENIED)
The first SVID of a socket is its default; '#HINT' sets the optional hint.

\b
--registration FILE (.json or .toml) says the same thing:
  [sockets.web]
  svids = [{spiffe_id = "spiffe://example.org/a", hint = "hintA"},
           "spiffe://example.org/b#hintB"]
  [sockets.nobody]
  svids = []
JSON: {"sockets": {"web": {"svids": [{"spiffe_id": "...", "hint": "..."}]}}}

\b
Durations: 20s, 5m, 1h30m, or plain seconds. X.509-SVIDs are re-issued and
pushed to every open stream at half-life (+/- 5% jitter); the CA rotates at
its half-life and the old root stays in the bundle until it expires.

\b
Signals: SIGTERM/SIGINT stop cleanly (exit 0, sockets removed);
SIGUSR1 re-issues all X.509-SVIDs now; SIGUSR2 rotates the CA now.
Exit codes: 0 clean stop, 1 runtime or registration-file error, 2 bad option.
"""


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _mode(ctx: click.Context, param: click.Parameter, value: str) -> int:
    try:
        mode = int(value, 8)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an octal mode such as 0600") from None
    if not 0 <= mode <= 0o777:
        raise click.BadParameter(f"{value!r} is not a permission mode")
    return mode


@click.command("dev-agent", help=HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--socket-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default="/tmp/spiffe-dev-agent",
    show_default=True,
    help="Directory of the NAME.sock sockets (created if missing).",
)
@click.option("--identity", "identities", multiple=True, metavar="NAME=ID[#HINT][,...]", help="Register a socket.")
@click.option(
    "--registration", type=click.Path(dir_okay=False, path_type=Path), help="Registration file (.json or .toml)."
)
@click.option("--trust-domain", help="Own trust domain (default: that of the first SPIFFE ID).")
@click.option("--federate-with", multiple=True, metavar="TD", help="Add a federated trust domain's bundles.")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), help="Persist the CA here (keys 0600).")
@click.option(
    "--x509-ttl", metavar="DURATION", default="1h", show_default=True, callback=_duration, help="X.509-SVID lifetime."
)
@click.option(
    "--jwt-ttl", metavar="DURATION", default="5m", show_default=True, callback=_duration, help="JWT-SVID lifetime."
)
@click.option(
    "--ca-ttl", metavar="DURATION", default="24h", show_default=True, callback=_duration, help="Root CA lifetime."
)
@click.option(
    "--ca-key-type",
    type=click.Choice(["ec", "rsa"]),
    default="ec",
    show_default=True,
    help="CA key: EC P-256 or RSA 2048.",
)
@click.option(
    "--svid-key-type",
    type=click.Choice(["ec", "rsa"]),
    default="ec",
    show_default=True,
    help="X.509-SVID key: EC P-256 or RSA 2048.",
)
@click.option("--intermediate", is_flag=True, help="Sign SVIDs with an intermediate CA (chains of length 2).")
@click.option(
    "--socket-mode", metavar="MODE", default="0600", show_default=True, callback=_mode, help="Socket file permissions."
)
@click.option("--log-level", metavar="LEVEL", default="info", show_default=True, help="debug, info, warn or error.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def dev_agent(
    socket_dir: Path,
    identities: tuple[str, ...],
    registration: Path | None,
    trust_domain: str | None,
    federate_with: tuple[str, ...],
    state_dir: Path | None,
    x509_ttl: float,
    jwt_ttl: float,
    ca_ttl: float,
    ca_key_type: str,
    svid_key_type: str,
    intermediate: bool,
    socket_mode: int,
    log_level: str,
    log_format: str,
) -> None:
    """Click entry point (see HELP)."""
    from spiffe_helper.logs import setup_logging

    try:
        setup_logging(log_level, log_format)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--log-level'") from None
    regs: list[SocketRegistration] = []
    try:
        if registration is not None:
            regs += load_registration_file(registration)
        for text in identities:
            try:
                regs.append(parse_identity_option(text))
            except RegistrationError as exc:
                raise click.BadParameter(str(exc), param_hint="'--identity'") from None
        settings = AgentSettings.build(
            socket_dir=socket_dir,
            registrations=regs,
            trust_domain=trust_domain,
            federate_with=federate_with,
            state_dir=state_dir,
            x509_ttl=x509_ttl,
            jwt_ttl=jwt_ttl,
            ca_ttl=ca_ttl,
            ca_key_type="rsa" if ca_key_type == "rsa" else "ec",
            svid_key_type="rsa" if svid_key_type == "rsa" else "ec",
            intermediate=intermediate,
            socket_mode=socket_mode,
        )
    except RegistrationError as exc:
        raise click.UsageError(str(exc)) from None
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        asyncio.run(serve(settings))
    except DevAgentError as exc:
        raise click.ClickException(str(exc)) from None


async def serve(settings: AgentSettings) -> None:
    """Run the agent until SIGTERM or SIGINT; SIGUSR1 rotates SVIDs, SIGUSR2 rotates the CA."""
    agent = DevAgent.from_settings(settings)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    # Installed before any gRPC thread exists; asyncio's wakeup fd delivers them to this loop.
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, agent.rotate_now)
    loop.add_signal_handler(signal.SIGUSR2, agent.rotate_ca_now)
    try:
        await agent.start()
        await stop.wait()
        log.info("Stopping dev agent")
    finally:
        await agent.stop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2):
            loop.remove_signal_handler(sig)
