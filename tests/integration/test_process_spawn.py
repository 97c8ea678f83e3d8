"""Spawning: clean signal state, own process group, Go-worded 127/126 failures."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from spiffe_helper.errors import SpawnError
from spiffe_helper.process.spawn import check_command, spawn


def _sig_fields(pid: int) -> dict[str, int]:
    """SigBlk/SigIgn of ``pid`` once it runs ``sleep`` (read from outside: no shell to muddle them)."""
    fields: dict[str, int] = {}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        if "Name:\tsleep" in status:
            for line in status:
                key, _, value = line.partition(":\t")
                if key in ("SigBlk", "SigIgn"):
                    fields[key] = int(value, 16)
            return fields
        time.sleep(0.01)
    raise AssertionError("child never exec'd sleep")


@pytest.fixture
def dirty_signal_state() -> Iterator[None]:
    """The helper's own state at its worst: a blocked signal and ignored ones (as Python and nohup leave)."""
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    old_hup = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, old_hup)
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)


@pytest.mark.usefixtures("dirty_signal_state")
def test_child_starts_with_empty_mask_and_default_dispositions() -> None:
    pid = spawn(["sleep", "30"])
    try:
        fields = _sig_fields(pid)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert fields["SigBlk"] == 0
    # Bits 31 and 32 are glibc's internal signals 32 and 33, which its posix_spawn leaves ignored.
    assert fields["SigIgn"] & ~((1 << 31) | (1 << 32)) == 0

    # Control: the same child through subprocess inherits what spawn() protects against.
    with subprocess.Popen(["sleep", "30"]) as ctl:
        try:
            leaked = _sig_fields(ctl.pid)
        finally:
            ctl.kill()
    assert leaked["SigBlk"] & (1 << (signal.SIGUSR1 - 1))
    assert leaked["SigIgn"] & (1 << (signal.SIGHUP - 1))


def test_child_leads_its_own_process_group() -> None:
    pid = spawn(["sleep", "5"])
    try:
        assert os.getpgid(pid) == pid
        assert os.getpgid(pid) != os.getpgrp()
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def test_same_group_when_asked() -> None:
    pid = spawn(["sleep", "5"], new_group=False)
    try:
        assert os.getpgid(pid) == os.getpgrp()
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def test_environment_is_passed(tmp_path: Path) -> None:
    out = tmp_path / "env"
    pid = spawn(["sh", "-c", 'printf %s "$FOO" > "$0"', str(out)], env={"FOO": "bar", "PATH": os.environ["PATH"]})
    os.waitpid(pid, 0)
    assert out.read_text() == "bar"


@pytest.mark.parametrize(
    ("cmd", "code", "message"),
    [
        (
            "no-such-command-spiffe",
            127,
            'error executing process "no-such-command-spiffe": exec: "no-such-command-spiffe": '
            "executable file not found in $PATH",
        ),
        (
            "/no/such/file",
            127,
            'error executing process "/no/such/file": fork/exec /no/such/file: no such file or directory',
        ),
        (
            "{tmp}/data.txt",
            126,
            'error executing process "{tmp}/data.txt": fork/exec {tmp}/data.txt: permission denied',
        ),
    ],
)
def test_spawn_failures(tmp_path: Path, cmd: str, code: int, message: str) -> None:
    (tmp_path / "data.txt").write_text("not a program")
    cmd, message = cmd.format(tmp=tmp_path), message.format(tmp=tmp_path)
    with pytest.raises(SpawnError) as err:
        spawn([cmd])
    assert err.value.exit_code == code
    assert str(err.value) == message
    with pytest.raises(SpawnError) as early:
        check_command(cmd)
    assert (early.value.exit_code, str(early.value)) == (code, message)


def test_directory_and_non_executable_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "tool"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o644)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    with pytest.raises(SpawnError) as err:
        check_command("tool")
    assert err.value.exit_code == 126
    assert str(err.value) == 'error executing process "tool": exec: "tool": permission denied'
    with pytest.raises(SpawnError) as spawned:
        spawn(["tool"])
    assert spawned.value.exit_code == 126
    with pytest.raises(SpawnError) as dir_err:
        spawn([str(tmp_path)])
    assert dir_err.value.exit_code == 126
    script.chmod(0o755)
    check_command("tool")
    check_command("sh")
