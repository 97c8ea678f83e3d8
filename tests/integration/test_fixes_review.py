"""Regression tests for the review's defects with real processes: secrets in logs, Ctrl-C during start-up."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from spiffe_helper.process.legacy import LegacySupervisor
from spiffe_helper.process.reaper import Reaper
from tests.helpers.isolate import run_isolated
from tests.helpers.procs import Captured

REPO = str(Path(__file__).resolve().parents[2])


def _start_and_log(tmp: str) -> list[tuple[str, str, dict[str, Any]]]:
    captured = Captured.install()

    async def main() -> None:
        reaper = Reaper(tick=0.2)
        reaper.start()
        sup = LegacySupervisor(reaper, cmd="sh", cmd_args=f"-c 'exit 0' sh -u root -pSECRET {tmp}")
        sup.on_credentials_written(True)
        deadline = time.monotonic() + 10
        while not [m for _, m, _ in captured.records if m == "Process exited"]:
            assert time.monotonic() < deadline, "child never exited"
            await asyncio.sleep(0.02)
        await sup.stop()
        reaper.close()

    asyncio.run(main())
    return captured.records


def test_child_arguments_are_not_logged_at_info(tmp_path: Path) -> None:
    records = run_isolated(_start_and_log, str(tmp_path))
    started = [f for lv, m, f in records if m == "Process started"]
    assert started and started[0]["cmd"] == "sh" and "args" not in started[0]
    assert not [r for r in records if r[0] != "debug" and "SECRET" in repr(r)]
    assert [r for r in records if r[0] == "debug" and "SECRET" in repr(r)]  # still there for debugging


def test_sigint_during_start_up_has_no_traceback() -> None:
    """Ctrl-C once our code runs (here: right after the first log line, while the config is parsed and the
    run is set up, before asyncio's handlers exist) ends quietly. The few milliseconds of Python's own
    start-up before ``cli.py`` runs cannot be covered by any code of ours, so no timed delay is tested."""
    d = tempfile.mkdtemp(dir="/tmp")
    conf = Path(d, "helper.conf")
    conf.write_text(
        f'agent_address = "{d}/none.sock"\ncert_dir = "{d}/out"\nsvid_file_name = "s.pem"\n'
        'svid_key_file_name = "k.pem"\nsvid_bundle_file_name = "b.pem"\n'
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, sysconfig.get_paths()["purelib"]]))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from spiffe_helper.cli import main; sys.exit(main())",
            "-config",
            str(conf),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    first = proc.stderr.readline()  # "Using configuration file": cli.py is running
    proc.send_signal(signal.SIGINT)
    try:
        _, rest = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("helper did not end after SIGINT")
    text = (first + rest).decode()
    assert "Using configuration file" in text
    assert "Traceback" not in text, text
    assert proc.returncode in (0, 1, 130), text
