"""The orchestrator: turns a validated config into a daemon or one-shot run and owns stop and exit code.

``cli.py`` parses and validates the config, then calls :func:`run`. Only this module knows every
component; the components exchange small values (``X509Context``, ``WriteResult``, status updates).

Wiring points (see :func:`_daemon`):

- SUPERVISOR: ``Daemon(on_x509_written=...)`` is called after every successful X.509 write with the
  :class:`~spiffe_helper.store.writer.WriteResult` (changed or not). Until the process supervisor is wired in,
  it is :func:`~spiffe_helper.runs.daemon.no_supervisor` and a configured ``cmd`` / ``start`` is reported at
  startup as not run. The supervisor's own "the helper must end with code N" goes to ``shutdown.request(N)``.
- HEALTH: the :class:`~spiffe_helper.runs.status.CredentialStatus` built here is the one object the runs
  update; the health server reads ``status.snapshot()``.
- BACKGROUND: ``Daemon(background=[...])`` takes coroutine factories (health server, a task that awaits the
  supervisor's ``wait_exit()`` and calls ``shutdown.request(code)``) run in the daemon's TaskGroup.
- SIGNALS: :func:`_install_signal_handlers` (SIGTERM/SIGINT -> stop with exit 0) through
  ``loop.add_signal_handler``, so a signal never lands on a gRPC thread.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable

from spiffe_helper.config.model import Config
from spiffe_helper.errors import EXIT_FAILURE, EXIT_OK, AddressError, ConfigError, SpiffeHelperError, WriteError
from spiffe_helper.logs import get_logger, parse_level, setup_logging
from spiffe_helper.runs.control import Shutdown, Stopped
from spiffe_helper.runs.daemon import Daemon, no_supervisor
from spiffe_helper.runs.oneshot import OneShot
from spiffe_helper.runs.status import CredentialStatus
from spiffe_helper.store.writer import CredentialWriter
from spiffe_helper.workload.address import WorkloadAddress, resolve_address
from spiffe_helper.workload.client import WorkloadApiClient

log = get_logger()

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def run(config: Config) -> int:
    """Run the helper with a validated config; returns the process exit code. Never raises."""
    _setup_logging(config)
    try:
        address = resolve_address(config.agent_address, os.environ)
        writer = CredentialWriter(config)
    except (AddressError, ConfigError) as exc:
        log.error("invalid configuration", extra={"fields": {"error": str(exc)}})
        return EXIT_FAILURE
    if config.daemon_mode:
        log.info("Launching daemon")
        _warn_unwired(config)
    else:
        log.info("Daemon mode disabled")
    try:
        writer.prepare()
    except WriteError as exc:
        # Not fatal: the agent may take a while, and the directory may become writable meanwhile.
        log.error("Unable to prepare the output directory", extra={"fields": {"error": str(exc)}})
    try:
        code = asyncio.run(_main(config, address, writer))
    except SpiffeHelperError as exc:
        log.error("Error starting spiffe-helper", extra={"fields": {"error": str(exc)}})
        return exc.exit_code
    except Exception as exc:  # a bug: one line at error, the traceback at debug
        log.error("Error starting spiffe-helper", extra={"fields": {"error": f"{type(exc).__name__}: {exc}"}})
        log.debug("Traceback", exc_info=True)
        return EXIT_FAILURE
    if code == EXIT_OK:
        log.info("Exiting")
    return code


def _setup_logging(config: Config) -> None:
    level = config.log_level
    try:
        parse_level(level)
    except ValueError:
        level = "debug"  # "trace" (logrus' finest level) has no finer Python level than debug
    setup_logging(level, config.log_format)


def _warn_unwired(config: Config) -> None:
    unwired = [
        key
        for key, on in (
            ("cmd", bool(config.cmd)),
            ("start", config.start is not None),
            ("pid_file_name", bool(config.pid_file_name)),
            ("reload", config.reload is not None),
            ("health_checks", config.health_checks.listener_enabled),
        )
        if on
    ]
    if unwired:
        log.warning(
            "Process supervision and health checks are not wired into the daemon yet; these keys are ignored",
            extra={"fields": {"keys": ",".join(unwired)}},
        )


async def _main(config: Config, address: WorkloadAddress, writer: CredentialWriter) -> int:
    shutdown = Shutdown()
    remove_handlers = _install_signal_handlers(shutdown)
    try:
        async with WorkloadApiClient(address) as client:
            if config.daemon_mode:
                return await _daemon(config, client, writer, shutdown).run()
            return await _oneshot(config, client, writer, shutdown)
    except BaseExceptionGroup as group:
        raise _first_error(group) from None
    finally:
        remove_handlers()


def _daemon(config: Config, client: WorkloadApiClient, writer: CredentialWriter, shutdown: Shutdown) -> Daemon:
    """Build the daemon run. The supervisor and health server are wired in here."""
    status = CredentialStatus(config.x509_enabled, writer.jwt_paths)  # HEALTH: the server reads this object
    return Daemon(config, client, writer, status, shutdown, on_x509_written=no_supervisor)  # SUPERVISOR hook


async def _oneshot(config: Config, client: WorkloadApiClient, writer: CredentialWriter, shutdown: Shutdown) -> int:
    """The one-shot run, interruptible by SIGTERM/SIGINT (then exit 1, like Go's ``context canceled``)."""
    canceled = False
    try:
        async with asyncio.TaskGroup() as tg:
            stop = tg.create_task(shutdown.raise_when_requested())
            code = await OneShot(config, client, writer).run()
            stop.cancel()
    except* Stopped:
        canceled = True
    if canceled:
        raise SpiffeHelperError("context canceled")
    return code


def _install_signal_handlers(shutdown: Shutdown) -> Callable[[], None]:
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, _on_stop_signal, shutdown, sig)

    def remove() -> None:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)

    return remove


def _on_stop_signal(shutdown: Shutdown, sig: signal.Signals) -> None:
    log.debug("Received signal", extra={"fields": {"signal": sig.name}})
    shutdown.request(EXIT_OK, sig.name)


def _first_error(group: BaseExceptionGroup) -> BaseException:
    """The first real error in a (nested) exception group, so it can be reported as one line."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return _first_error(exc)
        if not isinstance(exc, Stopped | asyncio.CancelledError):
            return exc
    return group
