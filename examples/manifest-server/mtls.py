"""Mutual TLS with SPIFFE X.509-SVID files, standard library only.

Shared by ``server.py`` and ``client.py``. The files are the ones spiffe-helper writes: a certificate chain,
its private key and the trust bundle. Trust comes from the SPIFFE bundle alone (never the system CAs), and
the peer is authorized by the SPIFFE ID in its URI SAN, since SPIFFE certificates carry no DNS names.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import signal
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TRUST_DOMAIN = "coastal-containers.example"
SERVER_ID = f"spiffe://{TRUST_DOMAIN}/manifest/workload/server"
CLIENT_ID = f"spiffe://{TRUST_DOMAIN}/manifest/workload/client"

# How often and how long a reload retries: the helper replaces the files while we may be reading them, and a
# certificate read next to the old key fails to load; a moment later both are new.
RELOAD_ATTEMPTS = 10
RELOAD_RETRY_DELAY = 0.2


@dataclass(frozen=True)
class Credentials:
    """Paths of the SVID chain, its key and the trust bundle."""

    cert: str
    key: str
    bundle: str

    def missing(self) -> list[str]:
        """The paths that do not exist yet."""
        return [p for p in (self.cert, self.key, self.bundle) if not os.path.exists(p)]


def setup_logging(name: str, level: str = "INFO") -> logging.Logger:
    """One line per event on stdout, flushed at once so a pipe reader sees it immediately."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s.%(msecs)03d %(name)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S")
    )
    log = logging.getLogger(name)
    log.handlers[:] = [handler]
    log.setLevel(level.upper())
    log.propagate = False
    return log


def _load(ctx: ssl.SSLContext, creds: Credentials) -> ssl.SSLContext:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(creds.cert, creds.key)
    # Only the SPIFFE bundle: no load_default_certs(), so a certificate from any public CA is refused.
    ctx.load_verify_locations(cafile=creds.bundle)
    return ctx


def server_context(creds: Credentials) -> ssl.SSLContext:
    """A server context that requires a client certificate chained to the bundle."""
    return _load(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), creds)


def client_context(creds: Credentials) -> ssl.SSLContext:
    """A client context: chain verified against the bundle; the SPIFFE ID check replaces hostname checks."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False  # SPIFFE SVIDs have no DNS SAN; authorize_peer() checks the URI SAN instead
    return _load(ctx, creds)


def peer_spiffe_id(tls: ssl.SSLSocket) -> str | None:
    """The peer's SPIFFE ID: its only URI SAN, when that is a spiffe:// URI; otherwise None."""
    cert: dict[str, Any] | None = tls.getpeercert()
    if not cert:
        return None
    uris = [value for kind, value in cert.get("subjectAltName", ()) if kind == "URI"]
    if len(uris) != 1 or not uris[0].startswith("spiffe://"):
        return None
    return str(uris[0])


def peer_serial(tls: ssl.SSLSocket) -> str:
    """The peer certificate's serial number in lower-case hex ("?" when unknown)."""
    cert = tls.getpeercert() or {}
    serial = cert.get("serialNumber")
    return format(int(serial, 16), "x") if isinstance(serial, str) else "?"


def _der_tlv(der: bytes, pos: int) -> tuple[int, int, int]:
    """Tag, start and end of the DER value at ``pos``."""
    tag, length = der[pos], der[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(der[pos : pos + count], "big")
        pos += count
    return tag, pos, pos + length


def file_serial(path: str) -> str:
    """Serial number (lower-case hex) of the first certificate in a PEM file, read without third-party code."""
    with open(path, encoding="ascii") as f:
        text = f.read()
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    start = text.index(begin) + len(begin)
    der = base64.b64decode("".join(text[start : text.index(end, start)].split()))
    _, cert_body, _ = _der_tlv(der, 0)  # Certificate ::= SEQUENCE
    _, pos, _ = _der_tlv(der, cert_body)  # tbsCertificate ::= SEQUENCE
    tag, start, stop = _der_tlv(der, pos)
    if tag == 0xA0:  # [0] EXPLICIT version, then the serial INTEGER
        tag, start, stop = _der_tlv(der, stop)
    return format(int.from_bytes(der[start:stop], "big"), "x")


def close_tls(tls: ssl.SSLSocket, timeout: float = 2.0) -> None:
    """A proper TLS close: send close_notify and wait (briefly) for the peer's."""
    try:
        tls.settimeout(timeout)
        tls.unwrap()
    except (OSError, ValueError):
        pass  # the peer went away first; the socket is closed by the caller either way


class ContextHolder:
    """The current SSL context. ``reload()`` builds a new one from the files and swaps it in.

    Readers take ``holder.current`` once per connection, so a swap affects new connections only; connections
    in flight keep the context they were made with. A failed reload keeps the old context.
    """

    def __init__(self, build: Callable[[], ssl.SSLContext], cert_path: str, log: logging.Logger) -> None:
        self._build = build
        self._cert_path = cert_path
        self._log = log
        self._lock = threading.Lock()  # one reload at a time; readers never take it
        self.current: ssl.SSLContext = build()
        self.serial = file_serial(cert_path)
        self.reloads = 0

    def reload(self, reason: str) -> bool:
        """Rebuild from the files (retrying through a rotation in progress); True when swapped."""
        with self._lock:
            error: Exception | None = None
            for _ in range(RELOAD_ATTEMPTS):
                try:
                    ctx, serial = self._build(), file_serial(self._cert_path)
                except (OSError, ssl.SSLError, ValueError) as exc:
                    error = exc
                    time.sleep(RELOAD_RETRY_DELAY)
                    continue
                old, self.current, self.serial = self.serial, ctx, serial
                self.reloads += 1
                self._log.info("reloaded TLS context (%s): own cert serial %s -> %s", reason, old, serial)
                return True
            self._log.error("reload failed (%s), keeping the previous TLS context: %s", reason, error)
            return False


def catch_sighup() -> threading.Event:
    """Install the SIGHUP handler at once, before anything slow: an uncaught SIGHUP would kill the process.

    The handler only sets the returned event, so a burst of signals causes at most one queued reload and
    never re-enters the reload code.
    """
    wanted = threading.Event()
    signal.signal(signal.SIGHUP, lambda _sig, _frame: wanted.set())
    return wanted


def block_signals() -> None:
    """Called first in every worker thread: the kernel then delivers our signals to the main thread.

    A signal that lands on a worker interrupts nothing, and the main thread runs the Python handler only
    when it next wakes up.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP, signal.SIGTERM, signal.SIGINT})


def start_reloader(holder: ContextHolder, wanted: threading.Event) -> None:
    """Reload ``holder`` in a background thread each time ``wanted`` is set (see ``catch_sighup``)."""

    def worker() -> None:
        block_signals()
        while True:
            wanted.wait()
            wanted.clear()
            holder.reload("SIGHUP")

    threading.Thread(target=worker, name="reload", daemon=True).start()


def wait_for_files(creds: Credentials, timeout: float, log: logging.Logger) -> bool:
    """Wait until the credential files exist (the helper writes them first); False on timeout."""
    deadline = time.monotonic() + timeout
    told = False
    while missing := creds.missing():
        if time.monotonic() >= deadline:
            return False
        if not told:
            log.info("waiting for %s", ", ".join(missing))
            told = True
        time.sleep(0.1)
    return True


def write_pid_file(path: str) -> None:
    """Write our PID for a helper running in another container (``pid_file_name``), atomically."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{os.getpid()}\n")
    os.replace(tmp, path)


def remove_quietly(path: str | None) -> None:
    """Remove a file we created (pid file), ignoring a file that is already gone."""
    if path:
        with contextlib.suppress(OSError):
            os.unlink(path)


def split_hostport(value: str, default_port: int) -> tuple[str, int]:
    """``host:port``, ``[v6]:port`` or ``host`` alone."""
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    host, sep, port = value.rpartition(":")
    if not sep:
        return value, default_port
    return host, int(port)
