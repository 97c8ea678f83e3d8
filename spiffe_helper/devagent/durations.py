"""Durations for the dev agent's TTL options: Go-style strings (``20s``, ``1m30s``, ``1h``) or plain seconds."""

from __future__ import annotations

import math
import re

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d)")


def parse_duration(value: str | float) -> float:
    """Return ``value`` in seconds; a plain number is seconds. Raises ValueError naming the value.

    Zero and negative durations are rejected: every TTL the agent uses must be positive.
    """
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            seconds = _parse_units(text, value)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"invalid duration {value!r}: must be positive")
    return seconds


def _parse_units(text: str, original: str) -> float:
    pos, total = 0, 0.0
    while pos < len(text):
        match = _PART.match(text, pos)
        if match is None:
            raise ValueError(f"invalid duration {original!r} (use e.g. 20s, 5m, 1h30m or plain seconds)")
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos == 0:
        raise ValueError(f"invalid duration {original!r} (use e.g. 20s, 5m, 1h30m or plain seconds)")
    return total


def format_duration(seconds: float) -> str:
    """A short human form for logs: ``90s`` -> ``1m30s``, ``0.5`` -> ``500ms``."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    out = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return out + (f"{secs}s" if secs or not out else "")
