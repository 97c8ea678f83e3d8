"""Signal names and descriptions as the Go helper reports them."""

from __future__ import annotations

import signal

import pytest

from spiffe_helper.process.signals import (
    FORWARDED_SIGNALS,
    STOP_SIGNALS,
    SignalNameError,
    parse_signal,
    signal_description,
    signal_name,
)


@pytest.mark.parametrize(
    ("name", "sig"),
    [("SIGHUP", signal.SIGHUP), ("SIGUSR1", signal.SIGUSR1), ("SIGTERM", signal.SIGTERM), ("SIGPWR", 30)],
)
def test_parse_known_names(name: str, sig: int) -> None:
    assert parse_signal(name) == sig


@pytest.mark.parametrize("name", ["HUP", "sighup", "SIGhup", "1", "SIGIOT", "SIGRTMIN", " SIGHUP", ""])
def test_unknown_names_fail_like_go(name: str) -> None:
    with pytest.raises(SignalNameError) as err:
        parse_signal(name)
    assert str(err.value) == f"error getting signal: {name}"


def test_descriptions_match_go() -> None:
    assert signal_description(signal.SIGHUP) == "hangup"
    assert signal_description(signal.SIGUSR1) == "user defined signal 1"
    assert signal_description(signal.SIGTERM) == "terminated"
    assert signal_description(40) == "signal 40"
    assert signal_name(signal.SIGWINCH) == "SIGWINCH"


def test_forwarded_set_is_the_pid1_set() -> None:
    names = {s.name for s in FORWARDED_SIGNALS}
    assert names == {"SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM", "SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGCONT", "SIGALRM"}
    assert not names & {"SIGCHLD", "SIGKILL", "SIGSTOP", "SIGSEGV"}
    assert {signal.SIGTERM, signal.SIGINT} == STOP_SIGNALS
