"""Wrapper mode (``start {}`` / ``reload {}``, upstream PR #410 style): the helper as the app's entrypoint.

- The first successful write starts the app (``start.cmd`` + ``start.args``) in its own process group, and
  hands it the terminal when stdin is one.
- Signals sent to the helper are forwarded to the app's group (the owner calls :meth:`forward`).
- When the app exits the rest of its group gets SIGTERM, and then either the helper ends with the app's
  exit code (128+N after signal N), or the restart policy starts it again after a backoff:
  ``never`` (default), ``on-failure`` (non-zero codes) or ``always``.
- On a later write that changed the files, ``reload {}`` says what happens: ``cmd`` + ``args`` runs a
  command to completion (runs never overlap; rotations during a run coalesce into one more run),
  ``signal`` goes to the process named in ``pid_file_name`` or else to the app itself.
- Without ``start {}`` (reload actions only) the first write also runs the reload actions, as the legacy
  ``cmd`` does.
- :meth:`stop` sends the stop signal to the group, SIGKILL after the grace period, and returns the app's
  exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from spiffe_helper.errors import EXIT_OK, SpawnError
from spiffe_helper.process.child import (
    Child,
    SignalSendError,
    log_exited,
    log_started,
    send_named_signal,
    start_child,
)
from spiffe_helper.process.pidfile import PidFileSignaller
from spiffe_helper.process.reaper import ChildExit, Reaper

log = logging.getLogger("spiffe_helper.process")

RESTART_POLICIES = ("never", "on-failure", "always")


@dataclass(frozen=True)
class ReloadAction:
    """What ``reload {}`` does on rotation; empty fields are unused."""

    signal: str = ""
    cmd: str = ""
    args: tuple[str, ...] = ()
    pid_file_name: str = ""


@dataclass(frozen=True)
class RestartBackoff:
    """Delay before restart ``n``: ``initial * 2**n`` capped at ``maximum``; reset after ``reset_after`` s up."""

    initial: float = 1.0
    maximum: float = 30.0
    reset_after: float = 10.0

    def delay(self, restarts: int) -> float:
        """The delay before the restart that follows ``restarts`` quick restarts in a row."""
        return float(min(self.maximum, self.initial * (2 ** min(restarts, 32))))


def should_restart(policy: str, result: ChildExit) -> bool:
    """Whether ``policy`` restarts an app that ended with ``result``."""
    if policy == "always":
        return True
    if policy == "on-failure":
        return result.exit_code != 0
    return False


class AppSupervisor:
    """Runs the long-lived app of ``start {}`` and performs ``reload {}`` on rotation."""

    def __init__(
        self,
        reaper: Reaper,
        *,
        cmd: str = "",
        args: Sequence[str] = (),
        restart: str = "never",
        reload: ReloadAction | None = None,
        grace_period: float = 10.0,
        backoff: RestartBackoff | None = None,
        reload_timeout: float = 60.0,
        foreground_tty: bool = True,
        pid_file: PidFileSignaller | None = None,
    ) -> None:
        if restart not in RESTART_POLICIES:
            raise ValueError(f"restart must be one of {', '.join(RESTART_POLICIES)}, not {restart!r}")
        self._reaper = reaper
        self.argv = (cmd, *args) if cmd else ()
        self.restart = restart
        self.reload = reload or ReloadAction()
        self.grace_period = grace_period
        self.backoff = backoff or RestartBackoff()
        self.reload_timeout = reload_timeout
        self.foreground_tty = foreground_tty
        if pid_file is None and self.reload.pid_file_name:
            pid_file = PidFileSignaller(self.reload.pid_file_name, self.reload.signal)
        self.pid_file = pid_file
        self.app: Child | None = None
        self.restarts = 0
        self._quick_restarts = 0
        self._written = False
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._done: asyncio.Future[int] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._reload_task: asyncio.Task[None] | None = None
        self._reload_pending = False
        self._reload_child: Child | None = None

    @property
    def child_pid(self) -> int | None:
        """The running app's pid, if any."""
        return self.app.pid if self.app is not None and self.app.running else None

    # --- events from the owner -------------------------------------------------------------------------

    def on_credentials_written(self, changed: bool) -> None:
        """Call after every successful write of the X.509 files, once all of them are in place."""
        if self._stopping:
            return
        first = not self._written
        self._written = True
        if first and self.argv:
            self._start_app()
            return
        if changed or (first and not self.argv):
            self._do_reload()

    def forward(self, sig: int) -> None:
        """Pass a signal the helper received on to the app's process group."""
        if self.app is not None and (self.app.running or self.app.group_alive()):
            self.app.signal_group(sig)

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        """Stop everything (``sig`` to the app's group, SIGKILL after the grace period); the exit code.

        The code is the app's (128+N after signal N); 0 if the app never ran. Idempotent.
        """
        self._stopping = True
        self._stop_event.set()
        reload_child = self._reload_child
        if self.pid_file is not None:
            await self.pid_file.close()
        code = EXIT_OK
        if reload_child is not None and reload_child.running:
            await reload_child.terminate(self.grace_period)
        if self.app is not None and (self.app.running or self.app.group_alive()):
            code = (await self.app.terminate(self.grace_period, sig)).exit_code
        elif self.app is not None and self.app.exited.done():
            code = self.app.exited.result().exit_code
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return self._finish(code)

    async def wait_exit(self) -> int:
        """The helper's exit code, once the app has ended for good (or :meth:`stop` was called)."""
        return await asyncio.shield(self._exit_future())

    async def idle(self) -> None:
        """Wait until no reload command is running or queued and pid file retries are over (for tests)."""
        while self._reload_task is not None and not self._reload_task.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._reload_task)
        if self.pid_file is not None:
            await self.pid_file.wait()

    # --- the app ---------------------------------------------------------------------------------------

    def _exit_future(self) -> asyncio.Future[int]:
        if self._done is None:
            self._done = asyncio.get_running_loop().create_future()
        return self._done

    def _finish(self, code: int) -> int:
        done = self._exit_future()
        if not done.done():
            done.set_result(code)
        return done.result()

    def _spawn_task(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _start_app(self) -> None:
        try:
            app = start_child(self._reaper, self.argv, foreground_tty=self.foreground_tty)
        except SpawnError as err:
            # Not found / not executable will not fix itself: end with 127 / 126 whatever the policy.
            log.error("Unable to start process", extra={"fields": {"error": str(err)}})
            self._finish(err.exit_code)
            return
        self.app = app
        log_started(app)
        self._spawn_task(self._watch_app(app), f"app:{app.pid}")

    async def _watch_app(self, app: Child) -> None:
        result = await app.exited
        log_exited(app, result)
        app.stop_group_leftovers()
        if self._stopping:
            return
        if not should_restart(self.restart, result):
            self._finish(result.exit_code)
            return
        if time.monotonic() - app.started_at >= self.backoff.reset_after:
            self._quick_restarts = 0
        delay = self.backoff.delay(self._quick_restarts)
        self._quick_restarts += 1
        log.info(
            "Restarting process",
            extra={"fields": {"cmd": self.argv[0], "restart": self.restart, "delay": f"{delay:g}s"}},
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_event.wait(), delay)
        if not self._stopping:
            self.restarts += 1
            self._start_app()

    # --- reload actions --------------------------------------------------------------------------------

    def _do_reload(self) -> None:
        action = self.reload
        if action.cmd:
            self._reload_pending = True
            if self._reload_task is None or self._reload_task.done():
                self._reload_task = self._spawn_task(self._run_reloads(), "reload-cmd")
        if self.pid_file is not None:
            self.pid_file.trigger()
        elif action.signal and self.app is not None and self.app.running:
            try:
                send_named_signal(self.app, action.signal)
            except SignalSendError as err:
                log.error("Unable to signal process", extra={"fields": {"error": str(err)}})

    async def _run_reloads(self) -> None:
        while self._reload_pending and not self._stopping:
            self._reload_pending = False
            await self._run_reload_once()

    async def _run_reload_once(self) -> None:
        argv = (self.reload.cmd, *self.reload.args)
        try:
            child = start_child(self._reaper, argv)
        except SpawnError as err:
            log.error("Unable to run reload command", extra={"fields": {"error": str(err)}})
            return
        self._reload_child = child
        log.debug("Running reload command", extra={"fields": {"cmd": argv[0], "pid": child.pid}})
        try:
            result = await asyncio.wait_for(asyncio.shield(child.exited), self.reload_timeout)
        except TimeoutError:
            log.error(
                "Reload command timed out; stopping it",
                extra={"fields": {"cmd": argv[0], "timeout": f"{self.reload_timeout:g}s"}},
            )
            result = await child.terminate(self.grace_period)
        finally:
            self._reload_child = None
        if result.exit_code != 0:
            log.error(
                "Reload command failed",
                extra={"fields": {"cmd": argv[0], "exit_code": result.exit_code, "status": result.describe()}},
            )
        else:
            log.info("Reload command succeeded", extra={"fields": {"cmd": argv[0]}})
