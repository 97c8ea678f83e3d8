"""Logging in the Go helper's logrus format (text) or as JSON lines, always on stderr.

Users grep for the Go helper's lines, so the text format matches logrus' non-TTY TextFormatter:
``time="2026-11-22T06:43:41Z" level=info msg="X.509 certificates updated" system=spiffe-helper``.
Extra fields are passed as ``extra={"fields": {...}}`` and printed sorted by name, like logrus.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import sys
from typing import Any

from spiffe_helper.config.gostrconv import go_quote

LOGGER_NAME = "spiffe_helper"

# logrus level names; Python's WARNING prints as "warning", CRITICAL as logrus' "fatal".
_LEVEL_NAMES = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warning",
    logging.ERROR: "error",
    logging.CRITICAL: "fatal",
}
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "fatal": logging.CRITICAL,
    "panic": logging.CRITICAL,
}
# logrus quotes a value unless it consists only of these characters.
_BARE = re.compile(r"^[A-Za-z0-9\-._/@^+]+$")


def parse_level(name: str) -> int:
    """Map a logrus level name (case-insensitive) to a logging level; ValueError when unknown."""
    try:
        return _LEVELS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown log level {name!r} (use debug, info, warn, error)") from None


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = dict(getattr(record, "fields", None) or {})
    if record.exc_info and "error" not in fields:
        fields["error"] = str(record.exc_info[1])
    fields["system"] = "spiffe-helper"
    return fields


def _timestamp(record: logging.LogRecord) -> str:
    return dt.datetime.fromtimestamp(record.created, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _quote(value: object) -> str:
    text = str(value)
    if text and _BARE.match(text):
        return text
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'  # the common case, and what strconv.Quote gives for it
    return go_quote(text)  # logrus quotes with Go's %q


class LogrusTextFormatter(logging.Formatter):
    """``time=... level=... msg=... key=value ... system=spiffe-helper``, keys after msg sorted."""

    def format(self, record: logging.LogRecord) -> str:
        """Render one record as a logrus text line."""
        parts = [
            f'time="{_timestamp(record)}"',
            f"level={_LEVEL_NAMES.get(record.levelno, 'info')}",
            f"msg={_quote(record.getMessage())}",
        ]
        parts += [f"{k}={_quote(v)}" for k, v in sorted(_fields(record).items())]
        return " ".join(parts)


class JsonFormatter(logging.Formatter):
    """One JSON object per line with logrus' JSONFormatter keys (``time``, ``level``, ``msg``, fields)."""

    def format(self, record: logging.LogRecord) -> str:
        """Render one record as a JSON line."""
        doc: dict[str, Any] = {
            "time": _timestamp(record),
            "level": _LEVEL_NAMES.get(record.levelno, "info"),
            "msg": record.getMessage(),
        }
        doc.update({k: v if isinstance(v, int | float | bool) else str(v) for k, v in _fields(record).items()})
        import json  # only for log_format = "json" (see _quote)

        return json.dumps(doc, sort_keys=True, ensure_ascii=False)


def setup_logging(level: str = "info", fmt: str = "text") -> None:
    """(Re)configure the ``spiffe_helper`` logger: stderr, the given level and format. Idempotent."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(parse_level(level))
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogrusTextFormatter())
    for old in list(logger.handlers):
        logger.removeHandler(old)
    logger.addHandler(handler)
    logger.propagate = False


def get_logger(name: str = "") -> logging.Logger:
    """A child of the ``spiffe_helper`` logger (``get_logger("store")`` -> ``spiffe_helper.store``)."""
    return logging.getLogger(f"{LOGGER_NAME}.{name}" if name else LOGGER_NAME)
