"""The start-up garbage collection policy (spiffe_helper/gcpolicy.py), in this interpreter and through the CLI."""

from __future__ import annotations

import gc
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from spiffe_helper import cli, gcpolicy


@pytest.fixture(autouse=True)
def _gc_restored() -> Iterator[None]:
    was = gc.isenabled()
    yield
    gc.unfreeze()
    if was:
        gc.enable()


def test_collection_is_off_until_settled_then_skips_what_was_alive() -> None:
    gc.enable()
    long_lived = [object() for _ in range(1000)]
    with gcpolicy.deferred_collection():
        assert not gc.isenabled()
        gcpolicy.settle()
        assert gc.isenabled()
        assert gc.get_freeze_count() >= len(long_lived)
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(long_lived)  # frozen until exit: the exit then skips them


def test_settle_is_a_no_op_outside_the_policy() -> None:
    gc.disable()
    gcpolicy.settle()
    assert not gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_a_disabled_collector_stays_disabled() -> None:
    gc.disable()
    with gcpolicy.deferred_collection():
        gcpolicy.settle()
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_the_cli_run_defers_collection_and_gives_the_interpreter_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gc.enable()
    states: list[tuple[bool, bool]] = []
    module = types.ModuleType("spiffe_helper.app")

    def run(config: object, source: object = None) -> int:
        before = gc.isenabled()
        gcpolicy.settle()  # what app.run does once the run's modules are loaded
        states.append((before, gc.isenabled() and gc.get_freeze_count() > 0))
        return 3

    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "spiffe_helper.app", module)
    conf = tmp_path / "helper.conf"
    conf.write_text(
        'agent_address = "/tmp/agent.sock"\ncert_dir = "certs"\nsvid_file_name = "s.pem"\n'
        'svid_key_file_name = "k.pem"\nsvid_bundle_file_name = "b.pem"\n'
    )
    assert cli.main(["-config", str(conf)]) == 3
    assert states == [(False, True)]
    assert gc.isenabled()


def test_only_the_first_two_settles_freeze() -> None:
    """Start-up and the first X.509 write; a config reload's new pipeline settles again, and freezing then
    would keep that moment's cyclic garbage forever."""
    gc.enable()
    with gcpolicy.deferred_collection():
        gcpolicy.settle()
        gcpolicy.settle()
        frozen = gc.get_freeze_count()

        class Cycle:
            def __init__(self) -> None:
                self.me = self

        garbage = [Cycle() for _ in range(100)]
        del garbage
        gcpolicy.settle()
        assert gc.get_freeze_count() == frozen
        assert gc.collect() >= 100
