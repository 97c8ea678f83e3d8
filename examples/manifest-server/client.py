"""Coastal Containers ship-manifest client: fetches the manifest over mutual TLS, standard library only.

Run it under spiffe-helper (see helper-client.conf). It fetches continuously (``--interval``), accepts only a
server presenting the expected SPIFFE ID, and retries with exponential backoff while the server is not up.
Each manifest is printed with the server's SPIFFE ID and the certificate serial it presented. SIGHUP rebuilds
the TLS context from the files; SIGTERM/SIGINT stop.

Exit codes: 0 when stopped or done (``--count``/``--once``), 1 when ``--once`` failed or it cannot start,
2 for bad arguments.
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
from typing import Any

import mtls

MAX_RESPONSE = 1 << 20


class FetchError(Exception):
    """One fetch failed; the message says why in a few words."""


def fetch(ctx: ssl.SSLContext, host: str, port: int, server_id: str, timeout: float) -> tuple[str, str, dict[str, Any]]:
    """One connection: handshake, SPIFFE ID check, read until the server's close_notify.

    Returns (server SPIFFE ID, server cert serial, manifest).
    """
    try:
        # suppress_ragged_eofs=False: a server that drops TCP without close_notify is reported, since a
        # truncated response would otherwise look complete.
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            ctx.wrap_socket(raw, suppress_ragged_eofs=False) as tls,
        ):
            spiffe_id, serial = mtls.peer_spiffe_id(tls), mtls.peer_serial(tls)
            if spiffe_id != server_id:
                mtls.close_tls(tls)
                raise FetchError(
                    f"refused server {spiffe_id or '<no SPIFFE ID>'} (cert serial {serial}): expected {server_id}"
                )
            data = _read_to_close(tls)
            mtls.close_tls(tls)
    except FetchError:
        raise
    except TimeoutError as exc:
        raise FetchError("timed out") from exc
    except ssl.SSLError as exc:
        raise FetchError(f"TLS error: {exc.reason or exc}") from exc
    except OSError as exc:
        raise FetchError(exc.strerror or str(exc)) from exc
    if not data:
        raise FetchError("server closed the connection without a manifest (not authorized?)")
    try:
        manifest = json.loads(data)
    except ValueError as exc:
        raise FetchError(f"malformed manifest: {exc}") from exc
    return spiffe_id, serial, manifest


def _read_to_close(tls: ssl.SSLSocket) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := tls.recv(65536):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_RESPONSE:
            raise FetchError("response too large")
    return b"".join(chunks)


def _touch(path: str) -> None:
    with open(path, "a", encoding="ascii"):
        os.utime(path)


class Backoff:
    """Exponential backoff, doubled per failure up to a ceiling, reset by a success."""

    def __init__(self, initial: float, ceiling: float) -> None:
        self.initial, self.ceiling, self.delay = initial, ceiling, initial

    def next(self) -> float:
        delay, self.delay = self.delay, min(self.delay * 2, self.ceiling)
        return delay

    def reset(self) -> None:
        self.delay = self.initial


def run(args: argparse.Namespace, holder: mtls.ContextHolder, stop: threading.Event, log: logging.Logger) -> int:
    """The fetch loop; returns the exit code."""
    host, port = mtls.split_hostport(args.server, 443)
    backoff = Backoff(args.initial_backoff, args.max_backoff)
    fetched = failed = 0
    while not stop.is_set():
        try:
            spiffe_id, serial, manifest = fetch(holder.current, host, port, args.server_id, args.timeout)
        except FetchError as exc:
            if args.once:
                log.error("fetch failed: %s", exc)
                return 1
            delay = backoff.next()
            if fetched:
                failed += 1
                log.warning("fetch failed: %s; retrying in %.1fs", exc, delay)
            else:
                log.info("server %s not ready yet: %s; retrying in %.1fs", args.server, exc, delay)
            stop.wait(delay)
            continue
        fetched += 1
        backoff.reset()
        if args.heartbeat:
            _touch(args.heartbeat)
        log.info("Received ship manifest from %s (server cert serial %s): %s", spiffe_id, serial, json.dumps(manifest))
        if args.once or (args.count and fetched >= args.count):
            break
        stop.wait(args.interval)
    log.info("stopped after %d manifests, %d failed fetches, %d reloads", fetched, failed, holder.reloads)
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--server", default=env("MANIFEST_SERVER", "server:443"), help="host:port [$MANIFEST_SERVER]")
    p.add_argument(
        "--server-id",
        default=env("MANIFEST_SERVER_ID", mtls.SERVER_ID),
        help="the only SPIFFE ID accepted from the server [$MANIFEST_SERVER_ID]",
    )
    p.add_argument("--cert", default=env("MANIFEST_CERT", "svids/client_cert.pem"), help="SVID chain (PEM)")
    p.add_argument("--key", default=env("MANIFEST_KEY", "svids/client_key.pem"), help="SVID private key (PEM)")
    p.add_argument("--bundle", default=env("MANIFEST_BUNDLE", "svids/svid_bundle.pem"), help="trust bundle")
    p.add_argument(
        "--interval",
        type=float,
        default=float(env("MANIFEST_INTERVAL", "2")),
        help="seconds between fetches [$MANIFEST_INTERVAL]",
    )
    p.add_argument("--timeout", type=float, default=5.0, help="seconds for connect + handshake + read")
    p.add_argument("--initial-backoff", type=float, default=0.2)
    p.add_argument("--max-backoff", type=float, default=5.0)
    p.add_argument("--count", type=int, default=0, help="stop after this many manifests (0: never)")
    p.add_argument("--once", action="store_true", help="one attempt, no retry; exit 1 if it fails")
    p.add_argument(
        "--pid-file",
        default=env("MANIFEST_PID_FILE"),
        help="write our PID here, for a helper in a sidecar container (pid_file_name) [$MANIFEST_PID_FILE]",
    )
    p.add_argument(
        "--heartbeat",
        default=env("MANIFEST_HEARTBEAT"),
        help="touch this file after each manifest received (for a liveness probe) [$MANIFEST_HEARTBEAT]",
    )
    p.add_argument("--wait-for-files", type=float, default=30.0, help="seconds to wait for the SVID files")
    p.add_argument("--log-level", default=env("MANIFEST_LOG_LEVEL", "INFO"))
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Fetch until stopped; returns the exit code."""
    reload_wanted = mtls.catch_sighup()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _s, _f: stop.set())
    args = parse_args(argv)
    log = mtls.setup_logging("manifest-client", args.log_level)
    creds = mtls.Credentials(args.cert, args.key, args.bundle)
    if not mtls.wait_for_files(creds, args.wait_for_files, log):
        log.error("cannot start: missing %s", ", ".join(creds.missing()))
        return 1
    try:
        holder = mtls.ContextHolder(lambda: mtls.client_context(creds), creds.cert, log)
        mtls.split_hostport(args.server, 443)
    except (OSError, ssl.SSLError, ValueError) as exc:
        log.error("cannot start: %s", exc)
        return 1
    mtls.start_reloader(holder, reload_wanted)
    log.info("fetching from %s every %.1fs (own cert serial %s)", args.server, args.interval, holder.serial)
    if args.pid_file:
        mtls.write_pid_file(args.pid_file)
    try:
        return run(args, holder, stop, log)
    finally:
        mtls.remove_quietly(args.pid_file)


if __name__ == "__main__":
    sys.exit(main())
