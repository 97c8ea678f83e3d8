"""Everything process-related a daemon run needs, behind one object the orchestrator wires in a few lines.

``ProcessRuntime`` owns the reaper (PID-1-grade reaping, subreaper when not PID 1), the helper's signal
handlers (every signal tini forwards) and the supervisor chosen from the config (legacy ``cmd`` or wrapper
``start {}`` / ``reload {}``, or none). Typical use inside the event loop::

    runtime = ProcessRuntime.from_config(config)
    runtime.start(on_stop=lambda sig: shutdown.request(0, signal.Signals(sig).name))
    # daemon hook after every successful X.509 write:   runtime.on_x509_written(result.changed)
    # background task in the daemon's TaskGroup:         shutdown.request(await runtime.wait_exit(), "child exited")
    ...  # run until the shutdown
    code = await runtime.stop()       # the child's code in wrapper mode; None: the helper's own code stands
    runtime.close()

Stop signals (SIGTERM, SIGINT) call ``on_stop(sig)`` once; :meth:`stop` then passes that same signal to the
child's group, waits the grace period and SIGKILLs what is left. Every other forwarded signal (and a stop
signal repeated during the stop) goes straight to the child's group.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

from spiffe_helper.process.reaper import Reaper
from spiffe_helper.process.signals import FORWARDED_SIGNALS, STOP_SIGNALS, SignalRouter
from spiffe_helper.process.supervisor import Supervisor, SupervisorSettings, build_supervisor
from spiffe_helper.process.wrapper import AppSupervisor


class ProcessRuntime:
    """Reaper + signal handlers + the configured supervisor (if any)."""

    def __init__(self, make_supervisor: Callable[[Reaper], Supervisor | None], *, reaper: Reaper | None = None) -> None:
        self.reaper = reaper or Reaper()
        self.supervisor = make_supervisor(self.reaper)
        self._router: SignalRouter | None = None
        self._on_stop: Callable[[int], None] | None = None
        self.stop_signal: int | None = None

    @classmethod
    def from_config(cls, config: SupervisorSettings) -> ProcessRuntime:
        """The runtime for a validated config (see :func:`build_supervisor`)."""
        return cls(lambda reaper: build_supervisor(config, reaper))

    @property
    def owns_exit_code(self) -> bool:
        """True in wrapper mode with an app: the helper ends with the app's exit code."""
        return isinstance(self.supervisor, AppSupervisor) and bool(self.supervisor.argv)

    def start(self, on_stop: Callable[[int], None]) -> None:
        """Start reaping and install the signal handlers (main thread, inside the running loop)."""
        self._on_stop = on_stop
        self.reaper.start()
        self._router = SignalRouter(self._on_signal, FORWARDED_SIGNALS)
        self._router.install()

    def on_x509_written(self, changed: bool) -> None:
        """The daemon's hook after every successful X.509 write (all files in place)."""
        if self.supervisor is not None:
            self.supervisor.on_credentials_written(changed)

    async def wait_exit(self) -> int:
        """Resolves with the exit code when the supervised app ended for good (never in legacy mode)."""
        if self.supervisor is None or not self.owns_exit_code:
            await asyncio.Event().wait()
        assert self.supervisor is not None
        return await self.supervisor.wait_exit()

    async def stop(self) -> int | None:
        """Stop the child (the stop signal received, SIGTERM otherwise); its code in wrapper mode."""
        if self.supervisor is None:
            return None
        code = await self.supervisor.stop(self.stop_signal or signal.SIGTERM)
        return code if self.owns_exit_code else None

    def close(self) -> None:
        """Remove the signal handlers and stop reaping (after :meth:`stop`)."""
        if self._router is not None:
            self._router.close()
            self._router = None
        self.reaper.reap()
        self.reaper.close()

    def _on_signal(self, sig: int) -> None:
        if sig in STOP_SIGNALS and self.stop_signal is None:
            self.stop_signal = sig
            if self._on_stop is not None:
                self._on_stop(sig)
            return
        if self.supervisor is not None:
            self.supervisor.forward(sig)
