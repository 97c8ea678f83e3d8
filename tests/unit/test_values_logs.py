"""Logging in the Go helper's logrus text format and as JSON lines (spiffe_helper/logs.py)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import pytest

from spiffe_helper.logs import LOGGER_NAME, get_logger, parse_level, setup_logging

LINE = re.compile(r'^time="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ" level=(\w+) msg=(.*)$')


@pytest.fixture(autouse=True)
def _restore_logger() -> Iterator[None]:
    logger = logging.getLogger(LOGGER_NAME)
    saved = (logger.level, list(logger.handlers), logger.propagate)
    yield
    logger.setLevel(saved[0])
    logger.handlers[:] = saved[1]
    logger.propagate = saved[2]


def _lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    captured = capsys.readouterr()
    assert captured.out == ""  # logs go to stderr only
    return captured.err.splitlines()


def test_text_line_matches_the_go_helper(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("info", "text")
    get_logger().info("X.509 certificates updated")
    (line,) = _lines(capsys)
    m = LINE.match(line)
    assert m, line
    assert m.group(1) == "info"
    assert m.group(2) == '"X.509 certificates updated" system=spiffe-helper'


def test_fields_are_sorted_and_quoted_like_logrus(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("debug", "text")
    fields = {"spiffe_id": "spiffe://example.org/w", "b": "plain-value_1.2/x@y^z+w", "a": 'say "hi"', "n": 3, "e": ""}
    get_logger("store").info("Received update", extra={"fields": fields})
    (line,) = _lines(capsys)
    tail = line.split(" level=info ", 1)[1]
    assert tail == (
        'msg="Received update" a="say \\"hi\\"" b=plain-value_1.2/x@y^z+w e="" n=3 '
        'spiffe_id="spiffe://example.org/w" system=spiffe-helper'
    )


def test_values_are_quoted_with_gos_percent_q(capsys: pytest.CaptureFixture[str]) -> None:
    """logrus quotes with Go's %q: control characters as \\x.., unprintable Unicode as \\u...., the rest
    (non-ASCII letters included) as is."""
    setup_logging("info", "text")
    fields = {"ctl": "a\x01b", "ls": "x\u2028y", "tab": "a\tb", "uni": "grüße dir", "back": "c:\\d"}
    get_logger().info("m", extra={"fields": fields})
    (line,) = _lines(capsys)
    assert line.split(" level=info ", 1)[1] == (
        'msg=m back="c:\\\\d" ctl="a\\x01b" ls="x\\u2028y" system=spiffe-helper tab="a\\tb" uni="grüße dir"'
    )


@pytest.mark.parametrize(
    ("method", "name"), [("debug", "debug"), ("info", "info"), ("warning", "warning"), ("error", "error")]
)
def test_level_names(capsys: pytest.CaptureFixture[str], method: str, name: str) -> None:
    setup_logging("debug")
    getattr(get_logger(), method)("m")
    (line,) = _lines(capsys)
    assert f" level={name} msg=m " in line


def test_level_filtering(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("warn")
    log = get_logger("workload")
    log.info("hidden")
    log.debug("hidden")
    log.warning("shown")
    assert [line.split(" msg=")[1] for line in _lines(capsys)] == ["shown system=spiffe-helper"]


def test_exception_becomes_an_error_field_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging()
    try:
        raise RuntimeError("boom: it broke")
    except RuntimeError:
        get_logger().error("Error starting spiffe-helper", exc_info=True)
    (line,) = _lines(capsys)
    assert line.endswith('msg="Error starting spiffe-helper" error="boom: it broke" system=spiffe-helper')


def test_json_format(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("info", "json")
    get_logger().warning("Renew signal", extra={"fields": {"pid": 42, "ok": True, "ratio": 0.5, "obj": ("a",)}})
    (line,) = _lines(capsys)
    doc = json.loads(line)
    assert doc["level"] == "warning" and doc["msg"] == "Renew signal" and doc["system"] == "spiffe-helper"
    assert doc["pid"] == 42 and doc["ok"] is True and doc["ratio"] == 0.5 and doc["obj"] == "('a',)"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["time"])


def test_setup_is_idempotent_and_does_not_propagate(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging()
    setup_logging("info", "json")
    logger = logging.getLogger(LOGGER_NAME)
    assert len(logger.handlers) == 1 and logger.propagate is False
    get_logger().info("once")
    assert len(_lines(capsys)) == 1


def test_child_loggers() -> None:
    assert get_logger().name == "spiffe_helper"
    assert get_logger("store").name == "spiffe_helper.store"


@pytest.mark.parametrize(
    ("name", "level"),
    [
        ("debug", logging.DEBUG),
        ("INFO", logging.INFO),
        ("warn", logging.WARNING),
        ("Warning", logging.WARNING),
        ("error", logging.ERROR),
        ("fatal", logging.CRITICAL),
        ("panic", logging.CRITICAL),
    ],
)
def test_parse_level(name: str, level: int) -> None:
    assert parse_level(name) == level


def test_parse_level_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown log level 'trace'"):
        parse_level("trace")
