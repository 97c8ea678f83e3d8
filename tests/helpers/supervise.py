"""Runs one command under the real Reaper, SignalRouter and AppSupervisor, as the helper would.

Usage: ``python supervise.py [--grace S] [--restart POLICY] [--backoff S] [--ready FILE] -- CMD [ARGS...]``

The command starts at once (as after the first write), signals sent to this process are forwarded to the
command's process group (SIGTERM/SIGINT stop it with a grace period), and this process exits with the
command's exit code (128+N after signal N). On exit it prints ``orphans_reaped=N restarts=M`` to stderr.
With ``--ready FILE`` it writes its pid to FILE once its handlers are installed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from spiffe_helper.process.reaper import Reaper
from spiffe_helper.process.signals import STOP_SIGNALS, SignalRouter
from spiffe_helper.process.wrapper import AppSupervisor, RestartBackoff


class _Fields(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        extra = " ".join(f"{k}={v}" for k, v in sorted(fields.items()))
        return f"supervise: {record.levelname.lower()} {record.getMessage()} {extra}".rstrip()


async def run(opts: argparse.Namespace) -> int:
    """Supervise ``opts.argv`` until it ends for good; its exit code."""
    reaper = Reaper(tick=0.5)
    reaper.start()
    sup = AppSupervisor(
        reaper,
        cmd=opts.argv[0],
        args=opts.argv[1:],
        restart=opts.restart,
        grace_period=opts.grace,
        backoff=RestartBackoff(initial=opts.backoff, maximum=opts.backoff * 4, reset_after=60.0),
        foreground_tty=False,
    )
    stops: list[asyncio.Task[int]] = []

    def on_signal(sig: int) -> None:
        if sig in STOP_SIGNALS:
            if not stops:
                stops.append(asyncio.get_running_loop().create_task(sup.stop(sig)))
            else:
                sup.forward(sig)
        else:
            sup.forward(sig)

    router = SignalRouter(on_signal)
    router.install()
    if opts.ready:
        with open(opts.ready + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.rename(opts.ready + ".tmp", opts.ready)
    sup.on_credentials_written(True)
    code = await sup.wait_exit()
    await sup.stop()
    router.close()
    reaper.reap()
    reaper.close()
    print(f"orphans_reaped={reaper.orphans_reaped} restarts={sup.restarts}", file=sys.stderr)
    return code


def main() -> int:
    """Parse the options and run."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--grace", type=float, default=5.0)
    parser.add_argument("--restart", default="never")
    parser.add_argument("--backoff", type=float, default=0.05)
    parser.add_argument("--ready", default="")
    parser.add_argument("argv", nargs="+")
    opts = parser.parse_args()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Fields())
    logging.getLogger("spiffe_helper").addHandler(handler)
    logging.getLogger("spiffe_helper").setLevel(logging.DEBUG)
    return asyncio.run(run(opts))


if __name__ == "__main__":
    sys.exit(main())
