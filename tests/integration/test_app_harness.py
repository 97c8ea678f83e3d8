"""Running the real helper as a child process for the store/app integration tests (no tests of its own here
except a check of the HCL rendering).

:class:`Helper` writes ``helper.conf`` (HCL, the Go syntax) and runs ``spiffe-helper -config helper.conf``
(the installed console script, else ``spiffe_helper.cli`` with this interpreter): a real process with real
signals.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.helpers import procs

ROOT = Path(__file__).resolve().parents[2]


def eventually(cond: Callable[[], Any], timeout: float = 20.0, interval: float = 0.02) -> Any:
    """:func:`tests.helpers.procs.eventually` with the store/app tests' longer default deadline."""
    return procs.eventually(cond, timeout, interval)


def _hcl_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return json.dumps(f"{value:g}s")  # durations as Go strings
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_hcl_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {_hcl_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def to_hcl(cfg: Mapping[str, Any]) -> str:
    """helper.conf text; keys ending in ``_file_mode`` are written as Go octal literals (``0644``)."""
    lines = []
    for key, value in cfg.items():
        text = f"0{value:o}" if key.endswith("_file_mode") else _hcl_value(value)
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"


class Helper:
    """``spiffe-helper -config <workdir>/helper.conf`` as a child process, stderr captured to a file."""

    def __init__(self, cfg: Mapping[str, Any], workdir: Path) -> None:
        self.cfg = dict(cfg)
        self.workdir = workdir
        self.conf = workdir / "helper.conf"
        self.conf.write_text(to_hcl(self.cfg))
        fd, log = tempfile.mkstemp(prefix="helper-", suffix=".log", dir=str(workdir))
        os.close(fd)
        self.log_path = Path(log)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def command(self) -> list[str]:
        """The argv used to start the helper."""
        script = Path(sys.executable).parent / "spiffe-helper"  # the installed console script
        if script.exists():
            return [str(script), "-config", str(self.conf)]
        return [
            sys.executable,
            "-c",
            "import sys; from spiffe_helper.cli import main; sys.exit(main())",
            "-config",
            str(self.conf),
        ]

    def start(self) -> Helper:
        """Start the child."""
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT)
        # Never a preexec_fn: with one, subprocess must fork() (not vfork), which runs gRPC's fork handlers in
        # the child of this gRPC-using test process; its poller can then abort the child before exec
        # (grpc/grpc#43055: epoll_wait EBADF after close_fds).
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.command,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
            )
        return self

    def wait(self, timeout: float = 30.0) -> int:
        """Wait for exit; the exit code."""
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Signal and wait; SIGKILL if it does not end in time."""
        assert self.proc is not None
        return procs.stop_process(self.proc, sig, timeout)

    def output(self) -> str:
        """Everything the helper logged."""
        return self.log_path.read_text(errors="replace")

    def count(self, needle: str) -> int:
        """How many log lines contain ``needle``."""
        return sum(needle in line for line in self.output().splitlines())

    def wait_log(self, needle: str, count: int = 1, timeout: float = 30.0) -> None:
        """Wait until ``needle`` has been logged ``count`` times (fails early if the helper died)."""

        def seen() -> bool:
            if self.proc is not None and self.proc.poll() is not None and self.count(needle) < count:
                raise AssertionError(f"helper exited {self.proc.returncode}:\n{self.output()[-3000:]}")
            return self.count(needle) >= count

        try:
            eventually(seen, timeout)
        except AssertionError as exc:
            raise AssertionError(f"{needle!r} x{count} not logged: {exc}\n{self.output()[-3000:]}") from None

    def __enter__(self) -> Helper:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.stop()


def check_pair(cert_pem: bytes, key_pem: bytes) -> None:
    """The key belongs to the first certificate (AssertionError otherwise)."""
    cert = x509.load_pem_x509_certificates(cert_pem)[0]
    key = serialization.load_pem_private_key(key_pem, None)
    assert cert.public_key() == key.public_key(), "key does not match certificate"


def openssl_verify(ca_file: Path, cert_file: Path, untrusted: Path | None = None) -> str:
    """``openssl verify -CAfile bundle cert``; its output (AssertionError when it fails)."""
    cmd = ["openssl", "verify", "-CAfile", str(ca_file)]
    if untrusted is not None:
        cmd += ["-untrusted", str(untrusted)]
    out = subprocess.run([*cmd, str(cert_file)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def openssl_key_matches(cert_file: Path, key_file: Path) -> bool:
    """The cert's and the key's public keys as openssl prints them are equal."""
    a = subprocess.run(["openssl", "x509", "-noout", "-pubkey", "-in", str(cert_file)], capture_output=True, timeout=30)
    b = subprocess.run(["openssl", "pkey", "-pubout", "-in", str(key_file)], capture_output=True, timeout=30)
    return a.returncode == 0 and b.returncode == 0 and a.stdout == b.stdout and a.stdout.startswith(b"-----BEGIN")


def test_hcl_rendering() -> None:
    text = to_hcl(
        {
            "cert_dir": "/x",
            "cert_file_mode": 0o644,
            "daemon_mode": False,
            "oneshot_timeout": 3.0,
            "jwt_svids": [{"jwt_audience": "a", "jwt_extra_audiences": ["b"], "jwt_svid_file_name": "t"}],
        }
    )
    assert text == (
        'cert_dir = "/x"\ncert_file_mode = 0644\ndaemon_mode = false\noneshot_timeout = "3s"\n'
        'jwt_svids = [{jwt_audience = "a", jwt_extra_audiences = ["b"], jwt_svid_file_name = "t"}]\n'
    )
