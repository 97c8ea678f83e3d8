"""Time to parse and validate a helper.conf: the largest file of the Go conformance corpus (target < 2 ms).

Also times conf/helper.conf.example (every key, accepted, so every rule runs). Runs without ../shared too
(then only the example is timed). Prints the median and p95 of many runs.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spiffe_helper.config.loader import parse_text  # noqa: E402
from spiffe_helper.config.validate import validate  # noqa: E402
from spiffe_helper.errors import ConfigError  # noqa: E402

CORPUS = ROOT.parent / "shared" / "conformance" / "helperconf"
EXAMPLE = ROOT / "conf" / "helper.conf.example"
TARGET_MS = 2.0
RUNS = 2000


def files() -> list[Path]:
    """The largest corpus file (when the corpus is there) and the example config."""
    corpus = sorted(CORPUS.glob("*.conf"), key=lambda p: p.stat().st_size) if CORPUS.is_dir() else []
    return [*corpus[-1:], EXAMPLE]


def once(text: str, name: str) -> None:
    """Parse and validate once (a rejected file counts too: Go rejects some corpus files)."""
    with contextlib.suppress(ConfigError):
        validate(parse_text(text, file=name), environ={}, warn=lambda _m: None)


def measure(path: Path, target: bool) -> None:
    """Print the timing of one file."""
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    for _ in range(50):  # warm up
        once(text, path.name)
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        once(text, path.name)
        samples.append(time.perf_counter() - start)
    median_ms = statistics.median(samples) * 1000
    p95_ms = statistics.quantiles(samples, n=20)[-1] * 1000
    verdict = ("OK" if median_ms < TARGET_MS else "SLOWER THAN TARGET") if target else "(for information)"
    print(
        f"config_parse: {path.name} ({len(text.encode())} bytes): parse+validate median {median_ms:.3f} ms,"
        f" p95 {p95_ms:.3f} ms over {RUNS} runs (target < {TARGET_MS} ms) {verdict}"
    )


def main() -> int:
    """Time each file."""
    chosen = files()
    for path in chosen:
        # The target is for real configs; the example is 5x larger than any of them, mostly comments.
        measure(path, target=path != EXAMPLE or len(chosen) == 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
