"""Ten kinds of malformed Workload API responses: each rejected with a log line, the files left as they were.

The agent is the real dev agent (in a thread of the test process, for its fault-injection hooks) on a real
Unix socket; the helper is the real ``spiffe-helper`` process. One helper run goes through all ten faults:
for each, the previous files must stay byte-identical and not even be rewritten (same inodes), the rejection must
be logged for the intended reason, and a rotation afterwards must still reach the files (the stream
survived, or was re-established).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from spiffe_helper.devagent import FAULTS, DevAgentThread
from tests.faults.harness import HelperProcess, snapshot, wait_changed, write_conf

TD = "faults.example"
SPIFFE_ID = f"spiffe://{TD}/workload/malformed"

# What each rejection must mention: the reason, not just "something failed".
REASONS = {
    "empty_svid_list": r"no SVIDs|no X\.509-SVID|empty",
    "garbage_der": r"DER|parse",
    "key_mismatch": r"private key does not match",
    "spiffe_id_mismatch": r"does not match the SPIFFE ID|URI SAN",
    "two_uri_sans": r"URI SAN",
    "ca_leaf": r"must not be a CA|\bCA\b",
    "expired_svid": r"expired|not valid",
    "missing_bundle": r"bundle",
    "unchained_bundle": r"chain|verif|issuer|signed",
    "oversized_message": r"RESOURCE_EXHAUSTED|ResourceExhausted|larger than max|message larger",
}


def test_every_fault_kind_is_listed() -> None:
    assert sorted(REASONS) == sorted(FAULTS)


def inodes(paths: list[Path]) -> list[int]:
    """The inode each path resolves to: a rewrite (temp file + rename) gives a new one."""
    return [p.stat().st_ino for p in paths]


@pytest.mark.parametrize("layout", ["atomic_dir", "plain"])
def test_malformed_responses_are_rejected_and_files_kept(sock_dir: Path, layout: str) -> None:
    out = sock_dir / "out"
    files = [out / "svid.pem", out / "svid_key.pem", out / "svid_bundle.pem"]
    with DevAgentThread(sock_dir, {"w": [SPIFFE_ID]}, x509_ttl="1h") as agent:
        conf = write_conf(
            sock_dir / "helper.conf",
            {
                "agent_address": agent.address("w"),
                "cert_dir": str(out),
                "svid_file_name": "svid.pem",
                "svid_key_file_name": "svid_key.pem",
                "svid_bundle_file_name": "svid_bundle.pem",
                "file_layout": layout,
            },
        )
        with HelperProcess(conf) as helper:
            helper.wait_for(r"X\.509 certificates updated")
            rejections: dict[str, str] = {}
            for fault in FAULTS:
                before, before_inodes = snapshot(files), inodes(files)
                mark = len(helper.lines())
                agent.inject_x509_fault("w", fault)
                line = helper.wait_for(r"level=(error|warning)", start=mark)
                rejections[fault] = line
                # The agent re-sends the good state after the fault: the helper sees it as unchanged.
                helper.wait_for(r"X\.509 certificates updated.*changed=false", start=mark, timeout=30)
                assert snapshot(files) == before, f"{fault}: files changed"
                assert inodes(files) == before_inodes, f"{fault}: files were rewritten"
                assert re.search(REASONS[fault], line), f"{fault}: rejected for another reason: {line}"
                # The stream is still good: a real rotation reaches the files.
                agent.rotate_now("w")
                wait_changed(lambda: files[0].read_bytes(), before[str(files[0])], 30, what="rotation")
            helper.assert_clean_log()
            assert helper.running()
    # One line per fault, each naming the fault's reason (printed on failure for diagnosis).
    assert len(rejections) == len(FAULTS), rejections
