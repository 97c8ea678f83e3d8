"""A child that writes the name of every signal it receives to a log file, one per line.

Usage: ``python sigecho.py LOGFILE [--term exit|default|ignore] [--exit-code N] [--check CERT KEY BUNDLE]``

The first line is ``ready <pid>`` once the handlers are installed, so a test can wait for it before it
sends anything. On SIGTERM the default (``exit``) logs ``SIGTERM`` and exits with ``--exit-code`` (0);
``default`` logs it and then dies from it (exit status 143); ``ignore`` logs it and carries on (for
grace-period tests).

With ``--check`` every signal line carries a verdict on the credential files at that instant:
``SIGHUP ok <leaf serial>`` when the certificate chain, the key and the bundle all parse and the key
belongs to the leaf, else ``SIGHUP BAD <reason>``. The ready line gets one too (``ready <pid> ok ...``).
"""

from __future__ import annotations

import argparse
import os
import signal
import time

HANDLED = ("SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM", "SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGCONT", "SIGALRM")


def verdict(cert: str, key: str, bundle: str) -> str:
    """``ok <serial>`` if the three files form a complete, matching set right now, else ``BAD <why>``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        with open(cert, "rb") as f:
            chain = x509.load_pem_x509_certificates(f.read())
        with open(key, "rb") as f:
            private = serialization.load_pem_private_key(f.read(), None)
        with open(bundle, "rb") as f:
            roots = x509.load_pem_x509_certificates(f.read())
    except (OSError, ValueError) as err:
        return f"BAD {type(err).__name__}: {err}".replace("\n", " ")
    raw = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if chain[0].public_key().public_bytes(*raw) != private.public_key().public_bytes(*raw):
        return "BAD key does not match the certificate"
    if not roots:
        return "BAD empty bundle"
    return f"ok {chain[0].serial_number:x}"


def main() -> None:
    """Install the handlers, report readiness, and sleep until told to stop."""
    parser = argparse.ArgumentParser()
    parser.add_argument("logfile")
    parser.add_argument("--term", choices=("exit", "default", "ignore"), default="exit")
    parser.add_argument("--exit-code", type=int, default=0)
    parser.add_argument("--check", nargs=3, metavar=("CERT", "KEY", "BUNDLE"))
    opts = parser.parse_args()
    fd = os.open(opts.logfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def record(line: str) -> None:
        os.write(fd, (line + "\n").encode())

    def with_verdict(line: str) -> str:
        return f"{line} {verdict(*opts.check)}" if opts.check else line

    def handler(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        record(with_verdict(name))
        if signum == signal.SIGTERM and opts.term == "exit":
            os._exit(opts.exit_code)
        if signum == signal.SIGTERM and opts.term == "default":
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    for name in HANDLED:
        signal.signal(getattr(signal, name), handler)
    record(with_verdict(f"ready {os.getpid()}"))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
