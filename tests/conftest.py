"""Shared fixtures: short socket directories (Unix socket paths must stay under 107 bytes)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    """A fresh directory under /tmp whose socket paths fit the 107-byte limit."""
    d = Path(tempfile.mkdtemp(prefix="sh-", dir="/tmp"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)
