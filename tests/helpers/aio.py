"""Polling helpers for asyncio tests: wait for a condition with a generous deadline (never a timed assertion)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def until(cond: Callable[[], T], timeout: float = 10.0) -> T:
    """Poll ``cond`` every 20 ms until it returns something truthy, which is returned; AssertionError at the
    deadline, naming the condition."""
    deadline = time.monotonic() + timeout
    while not (value := cond()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {cond}")
        await asyncio.sleep(0.02)
    return value
