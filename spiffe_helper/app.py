"""The orchestrator: turns a validated config into a daemon or one-shot run and owns stop and exit code.

``cli.py`` parses and validates the config, then calls :func:`run`. Only this module knows every
component; the components exchange small values (``X509Context``, ``WriteResult``, status updates).

Daemon mode runs :class:`~spiffe_helper.runs.service.DaemonService` (credential pipeline, supervised
process, health server, config hot reload); one-shot mode runs :class:`~spiffe_helper.runs.oneshot.OneShot`.
Signals are handled through ``loop.add_signal_handler`` so a signal never lands on a gRPC thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from spiffe_helper import gcpolicy
from spiffe_helper.config.model import Config
from spiffe_helper.errors import EXIT_FAILURE, EXIT_OK, AddressError, ConfigError, SpiffeHelperError, WriteError
from spiffe_helper.logs import get_logger, setup_logging
from spiffe_helper.runs.control import Shutdown, Stopped
from spiffe_helper.runs.oneshot import OneShot
from spiffe_helper.store.writer import CredentialWriter
from spiffe_helper.svid import preload_verification
from spiffe_helper.workload.address import WorkloadAddress, resolve_address
from spiffe_helper.workload.client import WorkloadApiClient

if TYPE_CHECKING:
    from spiffe_helper.config.source import ConfigSource

log = get_logger()

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def run(config: Config, source: ConfigSource | None = None) -> int:
    """Run the helper with a validated config; returns the process exit code. Never raises.

    ``source`` (the config file and the command-line overrides) enables hot reload in daemon mode.
    """
    setup_logging(config.log_level, config.log_format)  # validated; "trace" maps to debug in logs.py
    try:
        address = resolve_address(config.agent_address, os.environ)
        writer = CredentialWriter(config)
    except (AddressError, ConfigError) as exc:
        log.error("invalid configuration", extra={"fields": {"error": str(exc)}})
        return EXIT_FAILURE
    if config.daemon_mode:
        log.info("Launching daemon")
    else:
        log.info("Daemon mode disabled")
    try:
        writer.prepare()
    except WriteError as exc:
        # Not fatal: the agent may take a while, and the directory may become writable meanwhile.
        log.error("Unable to prepare the output directory", extra={"fields": {"error": str(exc)}})
    try:
        code = asyncio.run(_main(config, address, writer, source))
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


async def _main(config: Config, address: WorkloadAddress, writer: CredentialWriter, source: ConfigSource | None) -> int:
    shutdown = Shutdown()
    remove_handlers = _install_signal_handlers(shutdown)
    try:
        if config.daemon_mode:
            # Imported here: the daemon's modules (process runtime, psutil, health, watchfiles) cost a
            # one-shot run ~50 ms of start-up and it never uses them.
            from spiffe_helper.runs.service import DaemonService

            gcpolicy.settle()
            return await DaemonService(config, writer, shutdown, source).run()
        gcpolicy.settle()
        _preload_while_fetching()
        async with WorkloadApiClient(address) as client:
            return await _oneshot(config, client, writer, shutdown)
    except BaseExceptionGroup as group:
        raise _first_error(group) from None
    finally:
        remove_handlers()


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


def _preload_while_fetching() -> None:
    """While the agent answers, load on another thread what the first signature check would load.

    Only an optimisation: a thread that cannot start (a pids limit) or a preload that fails changes nothing,
    the validation then imports what it needs itself."""

    def preload() -> None:
        with contextlib.suppress(Exception):
            preload_verification()

    with contextlib.suppress(RuntimeError):
        threading.Thread(target=preload, name="spiffe-helper-preload", daemon=True).start()


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
