"""pid_file_name: Go's messages, real signals to a real process, stale pids, background retry."""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from spiffe_helper.process.pidfile import PidFileError, PidFileSignaller, read_pid_file, signal_pid_file
from tests.helpers.procs import PYTHON, SIGECHO, Captured, eventually, lines


@pytest.fixture
def echo(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    log = tmp_path / "signals.log"
    proc = subprocess.Popen([PYTHON, SIGECHO, str(log)])
    eventually(lambda: lines(log))
    yield proc, log
    proc.kill()
    proc.wait()


@pytest.fixture
def captured() -> Iterator[Captured]:
    handler = Captured.install()
    yield handler
    logging.getLogger("spiffe_helper").removeHandler(handler)


def test_missing_file_message(tmp_path: Path) -> None:
    f = str(tmp_path / "nope.pid")
    with pytest.raises(PidFileError) as err:
        read_pid_file(f)
    assert str(err.value) == f'failed to read pid file "{f}": open {f}: no such file or directory'


def test_directory_message(tmp_path: Path) -> None:
    with pytest.raises(PidFileError) as err:
        read_pid_file(str(tmp_path))
    assert str(err.value) == f'failed to read pid file "{tmp_path}": read {tmp_path}: is a directory'


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("abc", 'strconv.Atoi: parsing "abc": invalid syntax'),
        ("", 'strconv.Atoi: parsing "": invalid syntax'),
        ("12 34", 'strconv.Atoi: parsing "12 34": invalid syntax'),
        ("0x10", 'strconv.Atoi: parsing "0x10": invalid syntax'),
        ("99999999999999999999", 'strconv.Atoi: parsing "99999999999999999999": value out of range'),
    ],
)
def test_parse_errors(tmp_path: Path, content: str, message: str) -> None:
    f = tmp_path / "x.pid"
    f.write_text(content)
    with pytest.raises(PidFileError) as err:
        read_pid_file(str(f))
    assert str(err.value) == f'failed to parse pid file "{f}": {message}'


def test_whitespace_and_sign_are_accepted(tmp_path: Path) -> None:
    f = tmp_path / "x.pid"
    f.write_text("  +1234 \n\n")
    assert read_pid_file(str(f)) == 1234


@pytest.mark.parametrize("content", ["0", "-1", "-4242"])
def test_group_addressing_pids_are_refused(tmp_path: Path, content: str) -> None:
    f = tmp_path / "x.pid"
    f.write_text(content)
    with pytest.raises(PidFileError, match=r"failed to find process id -?\d+: not a process id"):
        signal_pid_file(str(f), "SIGHUP")


def test_signals_the_process_in_the_file(tmp_path: Path, echo: tuple[subprocess.Popen[bytes], Path]) -> None:
    proc, log = echo
    f = tmp_path / "app.pid"
    f.write_text(f"{proc.pid}\n")
    assert signal_pid_file(str(f), "SIGUSR1") == proc.pid
    eventually(lambda: "SIGUSR1" in lines(log))
    # The file is re-read every time: a new pid is picked up.
    assert signal_pid_file(str(f), "SIGHUP") == proc.pid
    eventually(lambda: "SIGHUP" in lines(log))


def test_empty_signal_is_a_noop_and_bad_name_is_gos_error(
    tmp_path: Path, echo: tuple[subprocess.Popen[bytes], Path]
) -> None:
    proc, log = echo
    f = tmp_path / "app.pid"
    f.write_text(str(proc.pid))
    assert signal_pid_file(str(f), "") == proc.pid
    with pytest.raises(PidFileError) as err:
        signal_pid_file(str(f), "HUP")
    assert str(err.value) == "error getting signal: HUP"
    assert lines(log) == [f"ready {proc.pid}"]


def test_stale_pid_is_named(tmp_path: Path) -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    f = tmp_path / "app.pid"
    f.write_text(str(proc.pid))
    with pytest.raises(PidFileError) as err:
        signal_pid_file(str(f), "SIGHUP")
    assert str(err.value) == (
        "error signaling process with signal num hangup: os: process already finished "
        f'(stale pid file "{f}": no process with pid {proc.pid})'
    )


def test_zombie_pid_is_named(tmp_path: Path) -> None:
    proc = subprocess.Popen(["true"])
    try:
        eventually(lambda: Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z")
        f = tmp_path / "app.pid"
        f.write_text(str(proc.pid))
        with pytest.raises(PidFileError, match=rf"pid {proc.pid} has exited \(zombie\)"):
            signal_pid_file(str(f), "SIGHUP")
    finally:
        proc.wait()


def test_retry_finds_a_pid_file_written_late(
    tmp_path: Path, echo: tuple[subprocess.Popen[bytes], Path], captured: Captured
) -> None:
    proc, log = echo
    f = tmp_path / "late.pid"

    async def scenario() -> int | None:
        signaller = PidFileSignaller(str(f), "SIGUSR2", attempts=20, base_delay=0.02, factor=1.5)
        task = signaller.trigger()
        await asyncio.sleep(0.3)
        assert not task.done()  # still retrying: the file does not exist yet
        f.write_text(str(proc.pid))
        return await task

    assert asyncio.run(scenario()) == proc.pid
    eventually(lambda: "SIGUSR2" in lines(log))
    assert "Unable to signal PID file" not in captured.messages()
    assert any("retrying" in m for m in captured.messages("debug"))


def test_final_failure_logs_gos_line(tmp_path: Path, captured: Captured) -> None:
    f = str(tmp_path / "never.pid")

    async def scenario() -> int | None:
        return await PidFileSignaller(f, "SIGHUP", attempts=3, base_delay=0.01).trigger()

    assert asyncio.run(scenario()) is None
    errors = [(m, fl) for lv, m, fl in captured.records if lv == "error"]
    assert errors == [
        ("Unable to signal PID file", {"error": f'failed to read pid file "{f}": open {f}: no such file or directory'})
    ]


def test_newer_rotation_cancels_an_older_retry(tmp_path: Path, echo: tuple[subprocess.Popen[bytes], Path]) -> None:
    proc, log = echo
    f = tmp_path / "app.pid"

    async def scenario() -> tuple[bool, int | None]:
        signaller = PidFileSignaller(str(f), "SIGHUP", attempts=100, base_delay=0.05, factor=1.0)
        old = signaller.trigger()
        await asyncio.sleep(0.1)
        f.write_text(str(proc.pid))
        new = signaller.trigger()
        pid = await new
        await asyncio.sleep(0)
        return old.cancelled(), pid

    cancelled, pid = asyncio.run(scenario())
    assert cancelled
    assert pid == proc.pid
    eventually(lambda: "SIGHUP" in lines(log))
    assert lines(log).count("SIGHUP") == 1
    proc.send_signal(signal.SIGTERM)
