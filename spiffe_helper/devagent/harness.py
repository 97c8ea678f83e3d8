"""Ways for tests and benchmarks to run the dev agent for real: a child process, or a background thread.

:class:`DevAgentProcess` runs ``python -m spiffe_helper.devagent`` as a real process (signals, crashes and
restarts are real) and waits until every socket accepts connections::

    with DevAgentProcess(sock_dir, {"server": "spiffe://td/server"}, x509_ttl="4s") as agent:
        agent.socket_path("server"); agent.rotate_now()   # SIGUSR1
        agent.kill(); agent.start()                      # crash (stale socket left) and restart
        assert agent.stop() == 0                         # SIGTERM, exit code

:class:`DevAgentThread` runs an in-process :class:`DevAgent` on its own event loop in a daemon thread, for
synchronous tests that still want the Python hooks (``inject_x509_fault``, ``set_identities``, ...).

A process that reaps with ``waitpid(-1)`` in the same interpreter can steal the child's exit status; tests
that run such a reaper in-process should use :class:`DevAgentThread` instead.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from spiffe_helper.devagent.agent import DevAgent
from spiffe_helper.devagent.registrations import load_registration_file

T = TypeVar("T")
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def _connectable(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(os.fspath(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


class DevAgentProcess:
    """The dev agent as a child process; ``identities`` as for :class:`DevAgent` (strings, ``#hint``).

    ``registration`` passes a registration file; its sockets are waited for too.
    """

    def __init__(
        self,
        socket_dir: str | Path,
        identities: Mapping[str, Sequence[str] | str] | None = None,
        *,
        registration: str | Path | None = None,
        x509_ttl: str | float | None = None,
        jwt_ttl: str | float | None = None,
        ca_ttl: str | float | None = None,
        state_dir: str | Path | None = None,
        federate_with: Sequence[str] = (),
        intermediate: bool = False,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        python: str = sys.executable,
    ) -> None:
        self.socket_dir = Path(socket_dir)
        identities = identities or {}
        self.names = list(identities)
        cmd = [python, "-m", "spiffe_helper.devagent", "--socket-dir", str(self.socket_dir)]
        if registration is not None:
            cmd += ["--registration", str(registration)]
            self.names += [reg.name for reg in load_registration_file(registration)]
        for name, ids in identities.items():
            cmd += ["--identity", f"{name}={ids if isinstance(ids, str) else ','.join(ids)}"]
        for flag, value in (("--x509-ttl", x509_ttl), ("--jwt-ttl", jwt_ttl), ("--ca-ttl", ca_ttl)):
            if value is not None:
                cmd += [flag, str(value)]
        if state_dir is not None:
            cmd += ["--state-dir", str(state_dir)]
        for td in federate_with:
            cmd += ["--federate-with", td]
        if intermediate:
            cmd.append("--intermediate")
        self.command = [*cmd, *args]
        self.env = dict(os.environ if env is None else env)
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PACKAGE_ROOT), self.env.get("PYTHONPATH")]))
        fd, log_path = tempfile.mkstemp(prefix="devagent-", suffix=".log", dir="/tmp")
        os.close(fd)
        self.log_path = Path(log_path)
        self.proc: subprocess.Popen[bytes] | None = None

    def socket_path(self, name: str) -> Path:
        """``<socket_dir>/<name>.sock``."""
        return self.socket_dir / f"{name}.sock"

    def address(self, name: str) -> str:
        """``unix:///abs/path`` of a socket."""
        return f"unix://{self.socket_path(name).resolve()}"

    @property
    def pid(self) -> int:
        """The running child's pid."""
        if self.proc is None:
            raise RuntimeError("dev agent not started")
        return self.proc.pid

    def start(self, timeout: float = 30.0) -> DevAgentProcess:
        """Start the child and wait until every socket accepts connections."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("dev agent already running")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=self.env)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Poll until all sockets are connectable; RuntimeError with the agent's output if it dies or stalls."""
        deadline = time.monotonic() + timeout
        pending = [self.socket_path(n) for n in self.names]
        while pending:
            pending = [p for p in pending if not _connectable(p)]
            if not pending:
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"dev agent exited with {self.proc.returncode}:\n{self.output()[-4000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"dev agent not ready after {timeout}s:\n{self.output()[-4000:]}")
            time.sleep(0.02)

    def send_signal(self, sig: int) -> None:
        """Deliver ``sig`` to the child."""
        if self.proc is None:
            raise RuntimeError("dev agent not started")
        self.proc.send_signal(sig)

    def rotate_now(self) -> None:
        """SIGUSR1: re-issue every X.509-SVID now (asynchronous)."""
        self.send_signal(signal.SIGUSR1)

    def rotate_ca_now(self) -> None:
        """SIGUSR2: rotate the CA now (asynchronous)."""
        self.send_signal(signal.SIGUSR2)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send ``sig`` (default SIGTERM), wait, and return the exit code (SIGKILL after ``timeout``)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> int:
        """SIGKILL, as a crash: socket files stay behind (stale)."""
        return self.stop(signal.SIGKILL)

    def restart(self, timeout: float = 30.0) -> None:
        """SIGTERM, then start again on the same sockets."""
        self.stop()
        self.start(timeout)

    def output(self) -> str:
        """Everything the agent logged so far (all runs)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def close(self) -> None:
        """Stop the child if running and remove its log file."""
        self.stop()
        self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> DevAgentProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class DevAgentThread:
    """A :class:`DevAgent` on a private event loop in a daemon thread, driven from synchronous code.

    Takes the same arguments as :class:`DevAgent`. ``thread.agent`` is the agent; call its hooks through
    :meth:`call` (or the shortcuts), which runs them on the agent's loop and returns the result.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.agent = DevAgent(*args, **kwargs)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="devagent-loop", daemon=True)

    def start(self, timeout: float = 30.0) -> DevAgentThread:
        """Start the loop thread and the agent; returns once every socket listens."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.agent.start(), self._loop).result(timeout)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the agent and the loop thread."""
        if not self._thread.is_alive():
            return
        try:
            asyncio.run_coroutine_threadsafe(self.agent.stop(), self._loop).result(timeout)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
            self._loop.close()

    def call(self, fn: Callable[[DevAgent], T], timeout: float = 30.0) -> T:
        """Run ``fn(agent)`` on the agent's loop and return its result."""
        done: Future[T] = Future()

        def run() -> None:
            try:
                done.set_result(fn(self.agent))
            except BaseException as exc:
                done.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return done.result(timeout)

    def socket_path(self, name: str) -> Path:
        """``<socket_dir>/<name>.sock``."""
        return self.agent.socket_path(name)

    def address(self, name: str) -> str:
        """``unix:///abs/path`` of a socket."""
        return self.agent.address(name)

    def rotate_now(self, name: str | None = None) -> None:
        """See :meth:`DevAgent.rotate_now`."""
        self.call(lambda a: a.rotate_now(name))

    def inject_x509_fault(self, name: str, fault: str, **kwargs: Any) -> Any:
        """See :meth:`DevAgent.inject_x509_fault`."""
        return self.call(lambda a: a.inject_x509_fault(name, fault, **kwargs))

    def set_identities(self, name: str, svids: Sequence[str]) -> None:
        """See :meth:`DevAgent.set_identities`."""
        self.call(lambda a: a.set_identities(name, svids))

    def __enter__(self) -> DevAgentThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
