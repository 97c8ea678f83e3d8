"""The demo's pure parts: reading output lines into events, counting them, rendering the example confs."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from spiffe_helper.demo import EXAMPLES, render_conf
from spiffe_helper.demo_timeline import IDS, Event, Tally, classify, describe, logfmt, short

AGENT_LINE = (
    'time="2026-11-22T07:54:20Z" level=info msg="Issued X.509-SVID" expires_at=1795420480 reason=rotation '
    "serial=5170d72bdaa9b52f2b3d51ffe4c7447b40ed9d05 socket=server "
    "spiffe_id=spiffe://coastal-containers.example/manifest/workload/server system=spiffe-helper"
)


def test_logfmt_reads_quoted_and_bare_values() -> None:
    fields = logfmt('time="t" level=warning msg="say \\"hi\\" now" keys=cmd')
    assert fields == {"time": "t", "level": "warning", "msg": 'say "hi" now', "keys": "cmd"}


def test_agent_issuance_line() -> None:
    event = classify("agent", AGENT_LINE)
    assert event is not None and event.kind == "issued"
    assert event.fields["serial"] == "5170d72bdaa9b52f2b3d51ffe4c7447b40ed9d05"
    assert describe(event) == "issued server SVID, serial 5170d72b… (rotation)"


def test_helper_lines() -> None:
    written = classify("server", 'time="t" level=info msg="X.509 certificates updated" system=spiffe-helper')
    assert written is not None and written.kind == "written"
    unchanged = classify("server", 'time="t" level=info msg="X.509 certificates updated" changed=false')
    assert unchanged is not None and describe(unchanged) == "helper wrote the SVID files (unchanged)"
    assert classify("server", 'time="t" level=info msg="Received update" spiffe_id=x') is None
    warning = classify("client", 'time="t" level=error msg="Unable to signal" error="no such process"')
    assert warning is not None and warning.kind == "helper"
    assert describe(warning) == "helper error: Unable to signal error=no such process"


def test_app_lines() -> None:
    server_id, client_id = IDS["server"], IDS["client"]
    fetch = classify(
        "client",
        f"2026-11-22T07:54:26.998 manifest-client INFO Received ship manifest from {server_id} "
        '(server cert serial 5170d72b9): {"ship_name": "SS Coastal Carrier"}',
    )
    assert fetch is not None and fetch.kind == "fetch" and fetch.fields["serial"] == "5170d72b9"
    assert describe(fetch) == "fetch ok: manifest from server, server cert serial 5170d72b9"
    served = classify("server", f"x INFO served manifest to {client_id} at 127.0.0.1:5 (cert serial 61dc)")
    assert served is not None and served.kind == "served" and describe(served) is None
    reload = classify("server", "x INFO reloaded TLS context (SIGHUP): own cert serial aaaa -> bbbb")
    assert reload is not None and describe(reload) == "reloaded TLS context on SIGHUP: serial aaaa -> bbbb"
    refused = classify("server", f"x WARNING refused {IDS['intruder']} from 127.0.0.1:9 (cert serial 77): SPIFFE")
    assert refused is not None and refused.fields["id"] == IDS["intruder"]
    failed = classify("client", "x WARNING fetch failed: TLS error: X; retrying in 0.2s")
    assert failed is not None and describe(failed) == "FETCH FAILED: TLS error: X; retrying in 0.2s"
    assert classify("client", "something else entirely") is None


def _run(tally: Tally, server_serials: list[str], client_serials: list[str]) -> None:
    for s in server_serials:
        tally.add(Event("fetch", "client", {"id": IDS["server"], "serial": s, "doc": "{}"}))
    for c in client_serials:
        tally.add(Event("served", "server", {"id": IDS["client"], "serial": c}))


def test_tally_counts_rotations_seen_in_use_and_passes() -> None:
    tally = Tally()
    _run(tally, ["a", "a", "b", "c", "c", "d"], ["1", "2", "2", "3", "4"])
    tally.add(Event("refused", "server", {"id": IDS["intruder"], "serial": "9"}))
    tally.intruder_exit = 1
    assert tally.rotations() == (3, 3)
    assert all(ok for ok, _ in tally.verdict())


@pytest.mark.parametrize(
    ("servers", "clients", "failures", "intruder_exit", "refused", "failing"),
    [
        (["a", "b", "c"], ["1", "2", "3", "4"], 0, 1, True, 1),  # only 2 server rotations
        (["a", "b", "c", "d"], ["1", "2", "3"], 0, 1, True, 2),  # only 2 client rotations
        (["a", "b", "c", "d"], ["1", "2", "3", "4"], 1, 1, True, 0),  # one failed fetch
        (["a", "b", "c", "d"], ["1", "2", "3", "4"], 0, 0, True, 3),  # intruder got a manifest
        (["a", "b", "c", "d"], ["1", "2", "3", "4"], 0, 1, False, 3),  # server never logged a refusal
        (["a", "b", "c", "d"], ["1", "2", "3", "4"], 0, None, False, 3),  # intruder never tried
    ],
)
def test_tally_fails_each_criterion(
    servers: list[str], clients: list[str], failures: int, intruder_exit: int | None, refused: bool, failing: int
) -> None:
    tally = Tally()
    _run(tally, servers, clients)
    for _ in range(failures):
        tally.add(Event("fetch_failed", "client", {"reason": "x"}))
    if refused:
        tally.add(Event("refused", "server", {"id": IDS["intruder"], "serial": "9"}))
    tally.intruder_exit = intruder_exit
    verdict = tally.verdict()
    assert [i for i, (ok, _) in enumerate(verdict) if not ok] == [failing]


def test_an_intruder_fetch_failure_is_not_a_client_failure() -> None:
    tally = Tally()
    tally.add(Event("fetch_failed", "intruder-client", {"reason": "no manifest"}))
    assert tally.failed == 0


def test_render_conf_changes_only_agent_address() -> None:
    example = (EXAMPLES / "helper-server.conf").read_text()
    rendered = render_conf(example, Path("/tmp/x/agent/server.sock"))
    diff = [(a, b) for a, b in zip(example.splitlines(), rendered.splitlines(), strict=True) if a != b]
    assert diff == [('agent_address = "/tmp/coastal-agent/server.sock"', 'agent_address = "/tmp/x/agent/server.sock"')]
    with pytest.raises(click.ClickException):
        render_conf("cert_dir = 'x'\n", Path("/s"))


def test_short_serial() -> None:
    assert short("5170d72bdaa9") == "5170d72b…"
    assert short("5170d72b9") == "5170d72b9"


def test_intruder_lines_tell_the_story_once() -> None:
    rotated = classify("agent", AGENT_LINE.replace("socket=server", "socket=intruder"))
    assert rotated is not None and describe(rotated) is None  # its rotations are noise
    first = classify("agent", AGENT_LINE.replace("socket=server", "socket=intruder").replace("rotation", "initial"))
    assert first is not None and describe(first) == "issued intruder SVID, serial 5170d72b… (initial)"
    failed = classify("intruder-client", "x ERROR fetch failed: server closed the connection without a manifest")
    assert failed is not None
    assert (
        describe(failed) == "no manifest for the intruder, as expected: server closed the connection without a manifest"
    )


def test_the_demos_own_remarks_are_shown() -> None:
    note = classify("intruder", "demo: one-shot helper exit 1")
    assert note is not None and describe(note) == "one-shot helper exit 1"
