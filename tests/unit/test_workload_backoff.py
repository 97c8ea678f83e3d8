"""Exponential backoff with jitter (spiffe_helper/workload/backoff.py)."""

from __future__ import annotations

import random

import pytest

from spiffe_helper.workload.backoff import Backoff


def test_nominal_delays_double_up_to_the_cap() -> None:
    b = Backoff(initial=0.1, maximum=5.0, factor=2.0, jitter=0.0)
    delays = [round(b.next_delay(), 6) for _ in range(10)]
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0, 5.0]
    assert b.attempt == 10


def test_reset_starts_again_from_initial() -> None:
    b = Backoff(jitter=0.0)
    for _ in range(5):
        b.next_delay()
    b.reset()
    assert b.attempt == 0
    assert b.next_delay() == pytest.approx(0.1)


def test_jitter_only_shortens_and_stays_within_bounds() -> None:
    b = Backoff(initial=0.1, maximum=5.0, jitter=0.2, rng=random.Random(7))
    for n in range(200):
        nominal = b.nominal(n)
        delay = b.next_delay()
        assert 0.8 * nominal <= delay <= nominal <= 5.0


def test_jitter_actually_varies_the_delays() -> None:
    b = Backoff(maximum=1.0, jitter=0.2, rng=random.Random(1))
    at_cap = [b.next_delay() for _ in range(50)][10:]
    assert len({round(d, 9) for d in at_cap}) > 30


def test_seeded_rng_gives_reproducible_delays() -> None:
    first = Backoff(rng=random.Random(42))
    second = Backoff(rng=random.Random(42))
    assert [first.next_delay() for _ in range(12)] == [second.next_delay() for _ in range(12)]


def test_a_very_long_outage_does_not_overflow() -> None:
    b = Backoff(jitter=0.0)
    for _ in range(5000):
        delay = b.next_delay()
    assert delay == 5.0


@pytest.mark.parametrize(
    "kwargs",
    [{"initial": 0}, {"initial": 2, "maximum": 1}, {"factor": 0.5}, {"jitter": 1.0}, {"jitter": -0.1}],
)
def test_invalid_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)  # type: ignore[arg-type]
