"""Coastal Containers ship-manifest server: mutual TLS with SPIFFE SVIDs, standard library only.

Run it under spiffe-helper (see helper-server.conf). It answers every authorized connection with the ship
manifest as one JSON document, then closes TLS properly. Only clients presenting an allowed SPIFFE ID get it.
SIGHUP rebuilds the TLS context from the files (spiffe-helper sends it on rotation); SIGTERM/SIGINT stop.

Exit codes: 0 after SIGTERM/SIGINT, 1 when it cannot start (files, port), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import ssl
import sys
import threading

import mtls

MANIFEST = {
    "ship_name": "SS Coastal Carrier",
    "departure_port": "London Gateway",
    "arrival_port": "Port Elizabeth",
    "cargo": [
        {"type": "electronics", "quantity": 1000},
        {"type": "clothing", "quantity": 2000},
        {"type": "food", "quantity": 3000},
    ],
}


class ManifestServer:
    """Accept loop plus one thread per connection, at most ``max_connections`` at once."""

    def __init__(
        self,
        holder: mtls.ContextHolder,
        allowed_ids: frozenset[str],
        log: logging.Logger,
        handshake_timeout: float = 5.0,
        max_connections: int = 256,
    ) -> None:
        self.holder = holder
        self.allowed_ids = allowed_ids
        self.log = log
        self.handshake_timeout = handshake_timeout
        self.payload = (json.dumps(MANIFEST) + "\n").encode()
        self.stopping = threading.Event()
        self._slots = threading.BoundedSemaphore(max_connections)
        self._threads: set[threading.Thread] = set()
        self._threads_lock = threading.Lock()

    def serve(self, listener: socket.socket) -> None:
        """Accept until ``stopping`` is set, then give connections in flight a moment to finish."""
        listener.settimeout(0.5)  # wake up regularly to notice a stop request
        while not self.stopping.is_set():
            try:
                conn, addr = listener.accept()
            except TimeoutError:
                continue
            except OSError as exc:  # e.g. EMFILE: log, breathe, keep serving
                self.log.warning("accept failed: %s", exc)
                self.stopping.wait(0.1)
                continue
            if not self._slots.acquire(blocking=False):
                self.log.warning("too many connections, dropping %s:%s", addr[0], addr[1])
                conn.close()
                continue
            thread = threading.Thread(target=self._handle, args=(conn, addr), daemon=True)
            with self._threads_lock:
                self._threads.add(thread)
            thread.start()
        listener.close()
        with self._threads_lock:
            in_flight = list(self._threads)
        for thread in in_flight:
            thread.join(timeout=5)

    def _handle(self, conn: socket.socket, addr: tuple[str, int]) -> None:
        mtls.block_signals()
        peer = f"{addr[0]}:{addr[1]}"
        try:
            tls = self._handshake(conn, peer)
            if tls is not None:
                with tls:
                    self._answer(tls, peer)
        except OSError as exc:  # the peer went away or stalled mid-answer
            self.log.info("connection from %s ended early: %s", peer, _describe(exc))
        except Exception as exc:  # one bad connection must never take the server down
            self.log.error("connection from %s: unexpected %s: %s", peer, type(exc).__name__, exc)
        finally:
            conn.close()
            self._slots.release()
            with self._threads_lock:
                self._threads.discard(threading.current_thread())

    def _handshake(self, conn: socket.socket, peer: str) -> ssl.SSLSocket | None:
        """TLS handshake with an overall deadline, so a silent or trickling peer cannot hold a thread."""
        ctx = self.holder.current  # one snapshot: a reload during this connection does not affect it
        # The ssl module turns a socket timeout into one deadline for the whole handshake (not per read).
        conn.settimeout(self.handshake_timeout)
        try:
            return ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLEOFError, ConnectionResetError, BrokenPipeError) as exc:
            # a bare TCP connect (port scanners, tcpSocket probes): not worth a line at INFO
            self.log.debug("handshake with %s failed: peer closed the connection (%s)", peer, _describe(exc))
            return None
        except ssl.SSLCertVerificationError as exc:
            self.log.warning("handshake with %s failed: refused its certificate: %s", peer, exc.verify_message)
            return None
        except (ssl.SSLError, OSError) as exc:
            self.log.info("handshake with %s failed: %s", peer, _describe(exc))
            return None

    def _answer(self, tls: ssl.SSLSocket, peer: str) -> None:
        spiffe_id, serial = mtls.peer_spiffe_id(tls), mtls.peer_serial(tls)
        if spiffe_id not in self.allowed_ids:
            self.log.warning(
                "refused %s from %s (cert serial %s): SPIFFE ID not allowed",
                spiffe_id or "<no SPIFFE ID>",
                peer,
                serial,
            )
            mtls.close_tls(tls)
            return
        tls.settimeout(self.handshake_timeout)
        tls.sendall(self.payload)
        mtls.close_tls(tls)
        self.log.info("served manifest to %s at %s (cert serial %s)", spiffe_id, peer, serial)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    reason = getattr(exc, "reason", None)
    return str(reason or exc.strerror or exc) if isinstance(exc, OSError) else str(exc)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--listen", default=env("MANIFEST_LISTEN", "0.0.0.0:8443"), help="host:port [$MANIFEST_LISTEN]")
    p.add_argument("--cert", default=env("MANIFEST_CERT", "svids/server_cert.pem"), help="SVID chain (PEM)")
    p.add_argument("--key", default=env("MANIFEST_KEY", "svids/server_key.pem"), help="SVID private key (PEM)")
    p.add_argument("--bundle", default=env("MANIFEST_BUNDLE", "svids/svid_bundle.pem"), help="trust bundle")
    p.add_argument(
        "--allow-id",
        action="append",
        dest="allow_ids",
        help=f"SPIFFE ID allowed to fetch (repeatable) [$MANIFEST_ALLOWED_IDS, comma-separated; {mtls.CLIENT_ID}]",
    )
    p.add_argument("--handshake-timeout", type=float, default=5.0, help="seconds for a whole TLS handshake")
    p.add_argument("--max-connections", type=int, default=256, help="connections served at once")
    p.add_argument(
        "--pid-file",
        default=env("MANIFEST_PID_FILE"),
        help="write our PID here, for a helper in a sidecar container (pid_file_name) [$MANIFEST_PID_FILE]",
    )
    p.add_argument("--wait-for-files", type=float, default=30.0, help="seconds to wait for the SVID files")
    p.add_argument("--log-level", default=env("MANIFEST_LOG_LEVEL", "INFO"))
    args = p.parse_args(argv)
    if not args.allow_ids:
        args.allow_ids = [i.strip() for i in env("MANIFEST_ALLOWED_IDS", mtls.CLIENT_ID).split(",") if i.strip()]
    return args


def main(argv: list[str] | None = None) -> int:
    """Start serving; returns the exit code."""
    reload_wanted = mtls.catch_sighup()
    stop_signals: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda s, _f: stop_signals.append(s))
    args = parse_args(argv)
    log = mtls.setup_logging("manifest-server", args.log_level)
    creds = mtls.Credentials(args.cert, args.key, args.bundle)
    if not mtls.wait_for_files(creds, args.wait_for_files, log):
        log.error("cannot start: missing %s", ", ".join(creds.missing()))
        return 1
    try:
        holder = mtls.ContextHolder(lambda: mtls.server_context(creds), creds.cert, log)
        host, port = mtls.split_hostport(args.listen, 8443)
        listener = socket.create_server((host, port), backlog=128)
    except (OSError, ssl.SSLError, ValueError) as exc:
        log.error("cannot start: %s", exc)
        return 1
    server = ManifestServer(holder, frozenset(args.allow_ids), log, args.handshake_timeout, args.max_connections)
    mtls.start_reloader(holder, reload_wanted)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda s, _f: server.stopping.set())
    if stop_signals:
        server.stopping.set()
    if args.pid_file:
        mtls.write_pid_file(args.pid_file)
    log.info(
        "listening on %s:%d (own cert serial %s), allowing %s",
        host,
        listener.getsockname()[1],
        holder.serial,
        ", ".join(sorted(server.allowed_ids)),
    )
    try:
        server.serve(listener)
    finally:
        mtls.remove_quietly(args.pid_file)
    log.info("stopped after %d reloads", holder.reloads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
