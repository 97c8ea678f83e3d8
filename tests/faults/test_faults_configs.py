"""10,000 generated helper.conf files: a Config or a ConfigError with a position, never anything else.

Every generated file (tests/faults/configgen.py: HCL, JSON and TOML, valid and invalid, 30% damaged) goes
through what the helper does with a config before it connects: parse, validate, then the start-up checks
that build on the result (the output file names in ``CredentialWriter``, the agent address). Allowed
outcomes: a ``Config`` that passes those checks, or a ``ConfigError`` naming the file, with a line for every
parse error and for every error about a key the file sets; an ``AddressError`` for an unusable address.
Anything else is a traceback waiting to happen.

Hypothesis drives it with a derandomized profile (the same 10,000 files on every run, no example
database): it draws one seed per example and the generator builds the whole file from it. Drawing the
structure through hypothesis strategies instead costs several milliseconds per example, which would put
10,000 examples well past a minute on this machine; a failure still reports the seed and the file.

A sample of the failing files also goes through the real ``spiffe-helper`` process: exit 1, one error
line naming the file, no traceback.
"""

from __future__ import annotations

import random
import re
import subprocess
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spiffe_helper.config.loader import parse_text
from spiffe_helper.config.model import Config
from spiffe_helper.config.validate import validate
from spiffe_helper.errors import AddressError, ConfigError, ConfigParseError
from spiffe_helper.store.writer import CredentialWriter
from spiffe_helper.workload.address import resolve_address
from tests.faults.configgen import Generated, generate
from tests.faults.harness import helper_command

EXAMPLES = 10_000
CLI_SAMPLE = 12
OUTCOMES: dict[str, int] = {}


def _line_count(text: str) -> int:
    return text.count("\n") + text.count("\r") + 2


def _key_set_at_top(gen: Generated, key: str | None) -> bool:
    """The error is about a top-level key the (undamaged) file sets."""
    return not gen.mutated and key is not None and key in gen.top_keys


def check(gen: Generated) -> str:
    """Run one generated file through the start-up path; returns the outcome's name, asserts the rules."""
    try:
        config = validate(parse_text(gen.text, file=gen.file), environ={}, warn=lambda _m: None)
    except ConfigParseError as e:
        assert e.file == gen.file, str(e)
        assert e.line is not None and 1 <= e.line <= _line_count(gen.text), (e.line, str(e))
        return "parse error"
    except ConfigError as e:
        assert e.file == gen.file, str(e)
        if _key_set_at_top(gen, e.key):
            assert e.line is not None, f"no line for key {e.key!r}: {e}"
        return "validation error"
    assert isinstance(config, Config)
    try:
        CredentialWriter(config)
    except ConfigError as e:
        # Raised from a validated Config, after the loader: the key is named (see the report: no line).
        assert e.key, str(e)
        return "output name error"
    try:
        resolve_address(config.agent_address, {})
    except AddressError:
        return "address error"
    return "valid"


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_ten_thousand_generated_configs(seed: int) -> None:
    gen = generate(random.Random(seed))
    try:
        outcome = check(gen)
    except AssertionError as e:
        raise AssertionError(f"seed {seed} ({gen.fmt}, mutated={gen.mutated}):\n{gen.text}\n--- {e}") from None
    OUTCOMES[outcome] = OUTCOMES.get(outcome, 0) + 1


def test_the_generated_configs_cover_every_outcome() -> None:
    """Runs after the property (same module, file order): the mix was not degenerate."""
    if sum(OUTCOMES.values()) < EXAMPLES:
        rng = random.Random(7)
        for _ in range(2000):
            outcome = check(generate(rng))
            OUTCOMES[outcome] = OUTCOMES.get(outcome, 0) + 1
    print(f"\noutcomes: {dict(sorted(OUTCOMES.items()))}")
    for outcome in ("parse error", "validation error", "valid"):
        assert OUTCOMES.get(outcome, 0) >= 50, OUTCOMES


def test_failing_configs_through_the_real_helper(sock_dir: Path) -> None:
    rng = random.Random(20261122)
    picked: list[Generated] = []
    while len(picked) < CLI_SAMPLE:
        gen = generate(rng)
        if check(gen) in ("parse error", "validation error") and (gen.fmt != "json" or len(picked) % 3 == 0):
            picked.append(gen)
    for i, gen in enumerate(picked):
        path = sock_dir / f"{i}-{gen.file}"
        path.write_text(gen.text)
        result = subprocess.run(
            [*helper_command(), "-config", str(path), "-daemon-mode=false"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 1, output
        assert "Traceback" not in output, output
        errors = [line for line in output.splitlines() if "level=error" in line]
        assert len(errors) == 1, output
        assert re.search(re.escape(str(path)) + r":\d+", errors[0]) or str(path) in errors[0], errors[0]
