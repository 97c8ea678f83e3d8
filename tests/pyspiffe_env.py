"""A cached virtualenv with py-spiffe (PyPI ``spiffe``), the independent reference client.

py-spiffe ships stubs with the same top-level protobuf names as ours, so it cannot share a process with
them: callers run its Python in a subprocess. Used by the interop test and by the benchmarks (through
``bench/_common.py``), so both share one virtualenv: built once per requirement and Python version under
/tmp (needs PyPI the first time), then reused.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

SPIFFE_REQUIREMENT = "spiffe>=0.3.2"


def pyspiffe_python() -> Path:
    """The Python of the cached py-spiffe virtualenv, building it on first use."""
    key = hashlib.sha256(f"{SPIFFE_REQUIREMENT}|{sys.version_info[:2]}".encode()).hexdigest()[:12]
    venv = Path(f"/tmp/sh-pyspiffe-{key}")
    python = venv / "bin" / "python"
    ready = venv / ".installed"
    with open(f"/tmp/sh-pyspiffe-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test sessions and benches build it once
        if not ready.exists():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
            subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", SPIFFE_REQUIREMENT],
                check=True,
                timeout=600,
            )
            version = subprocess.run(
                [str(python), "-c", "import importlib.metadata as m; print(m.version('spiffe'))"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            ready.write_text(version + "\n")
    return python
