"""The dev agent as a real process: signals, exit codes, state directory across restarts, stale sockets."""

from __future__ import annotations

import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from spiffe_helper.der import split_der
from spiffe_helper.devagent import DevAgentProcess, DevAgentThread
from spiffe_helper.workload._proto import workload_pb2 as pb
from spiffe_helper.workload._proto import workload_pb2_grpc as pb_grpc

MD = (("workload.spiffe.io", "true"),)
SERVER_ID = "spiffe://coastal-containers.example/manifest/workload/server"


@pytest.fixture
def state_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="sh-state-", dir="/tmp") as d:
        yield Path(d)


def first_x509(agent: DevAgentProcess, name: str = "server") -> Any:
    with grpc.insecure_channel(agent.address(name)) as channel:
        call = pb_grpc.SpiffeWorkloadAPIStub(channel).FetchX509SVID(pb.X509SVIDRequest(), metadata=MD, timeout=15)
        message = next(call)
        call.cancel()
        return message


def jwt_bundles(agent: DevAgentProcess) -> dict[str, bytes]:
    with grpc.insecure_channel(agent.address("server")) as channel:
        call = pb_grpc.SpiffeWorkloadAPIStub(channel).FetchJWTBundles(pb.JWTBundlesRequest(), metadata=MD, timeout=15)
        message = next(call)
        call.cancel()
        return dict(message.bundles)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly_and_removes_sockets(sock_dir: Path, sig: signal.Signals) -> None:
    agent = DevAgentProcess(sock_dir, {"server": SERVER_ID, "nobody": []})
    try:
        agent.start()
        with grpc.insecure_channel(agent.address("server")) as channel:
            stub = pb_grpc.SpiffeWorkloadAPIStub(channel)
            call = stub.FetchX509SVID(pb.X509SVIDRequest(), metadata=MD, timeout=30)
            assert next(call).svids[0].spiffe_id == SERVER_ID
            assert agent.stop(sig, timeout=10) == 0  # with a stream still open
            with pytest.raises(grpc.RpcError):
                next(call)
        assert list(sock_dir.iterdir()) == []
        output = agent.output()
        assert "Stopping dev agent" in output and "Traceback" not in output
        assert 'msg="Issued X.509-SVID"' in output and "spiffe_id=" in output
    finally:
        agent.close()


def test_state_dir_keeps_the_trust_root_across_restarts(sock_dir: Path, state_dir: Path) -> None:
    with DevAgentProcess(sock_dir, {"server": SERVER_ID}, state_dir=state_dir) as agent:
        before = first_x509(agent)
        before_jwt = jwt_bundles(agent)
        agent.restart()
        after = first_x509(agent)
        assert after.svids[0].bundle == before.svids[0].bundle  # same root
        assert after.svids[0].x509_svid != before.svids[0].x509_svid  # fresh SVID
        assert jwt_bundles(agent) == before_jwt  # same JWT signing keys
    keys = list(state_dir.rglob("*.key"))
    assert len(keys) == 2  # root key + JWT key
    for path in keys:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700


def test_without_state_dir_a_restart_is_a_new_root(sock_dir: Path) -> None:
    with DevAgentProcess(sock_dir, {"server": SERVER_ID}) as agent:
        before = first_x509(agent).svids[0].bundle
        agent.restart()
        assert first_x509(agent).svids[0].bundle != before


def test_crash_leaves_a_stale_socket_that_the_next_run_replaces(sock_dir: Path) -> None:
    with DevAgentProcess(sock_dir, {"server": SERVER_ID}) as agent:
        assert agent.kill() == -signal.SIGKILL
        assert (sock_dir / "server.sock").exists()  # stale
        agent.start()
        assert first_x509(agent).svids[0].spiffe_id == SERVER_ID
        assert "Replacing stale socket file" in agent.output()


def test_second_agent_on_a_live_socket_fails_with_one_line(sock_dir: Path) -> None:
    with DevAgentProcess(sock_dir, {"server": SERVER_ID}) as agent:
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "spiffe_helper.devagent",
                "--socket-dir",
                str(sock_dir),
                "--identity",
                f"server={SERVER_ID}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=agent.env,
        )
        assert second.returncode == 1
        assert f"Error: {sock_dir}/server.sock is in use by a running agent" in second.stderr
        assert "Traceback" not in second.stderr
        assert first_x509(agent).svids  # the first agent is unharmed


def test_sigusr1_pushes_a_new_svid_to_open_streams(sock_dir: Path) -> None:
    with (
        DevAgentProcess(sock_dir, {"server": SERVER_ID}) as agent,
        grpc.insecure_channel(agent.address("server")) as ch,
    ):
        call = pb_grpc.SpiffeWorkloadAPIStub(ch).FetchX509SVID(pb.X509SVIDRequest(), metadata=MD, timeout=30)
        first = next(call).svids[0].x509_svid
        agent.rotate_now()
        second = next(call).svids[0].x509_svid
        call.cancel()
        assert split_der(second, "x")[0] != split_der(first, "x")[0]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--identity", "nope"], 2, "Invalid value for '--identity'"),
        (["--identity", "a=spiffe://td/a", "--x509-ttl", "soon"], 2, "invalid duration 'soon'"),
        (["--identity", "a=spiffe://td/a", "--identity", "b=spiffe://other/b"], 2, "not in the agent's trust domain"),
        (["--registration", "/nonexistent/reg.toml"], 1, "/nonexistent/reg.toml: cannot read registration file"),
        (
            ["--identity", "a=spiffe://td/a", "--state-dir", "/dev/null/state"],
            1,
            "Error: /dev/null/state: Not a directory",
        ),
    ],
)
def test_bad_input_is_one_line_with_documented_exit_code(
    sock_dir: Path, args: list[str], code: int, message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "spiffe_helper.devagent", "--socket-dir", str(sock_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == code, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert list(sock_dir.iterdir()) == []


def test_registration_file_serves_every_socket_with_hints(sock_dir: Path, tmp_path: Path) -> None:
    reg = tmp_path / "reg.toml"
    reg.write_text(
        '[sockets.web]\nsvids = [{spiffe_id = "spiffe://td.example/a", hint = "a"}, "spiffe://td.example/b#b"]\n'
        "[sockets.nobody]\nsvids = []\n"
    )
    with DevAgentProcess(sock_dir, registration=reg) as agent:
        assert sorted(p.name for p in sock_dir.iterdir()) == ["nobody.sock", "web.sock"]
        assert [(s.spiffe_id, s.hint) for s in first_x509(agent, "web").svids] == [
            ("spiffe://td.example/a", "a"),
            ("spiffe://td.example/b", "b"),
        ]
        with pytest.raises(grpc.RpcError) as info:
            first_x509(agent, "nobody")
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_thread_harness_drives_the_hooks_from_sync_code(sock_dir: Path) -> None:
    with DevAgentThread(sock_dir, {"server": [SERVER_ID], "late": []}) as agent:
        with grpc.insecure_channel(agent.address("server")) as channel:
            call = pb_grpc.SpiffeWorkloadAPIStub(channel).FetchX509SVID(pb.X509SVIDRequest(), metadata=MD, timeout=30)
            first = next(call)
            bad = agent.inject_x509_fault("server", "key_mismatch")
            assert next(call) == bad
            assert next(call) == first  # the good state again
            agent.rotate_now("server")
            assert next(call).svids[0].x509_svid != first.svids[0].x509_svid
            call.cancel()
        agent.set_identities("late", [f"{SERVER_ID}-late"])
        with grpc.insecure_channel(agent.address("late")) as channel:
            stub = pb_grpc.SpiffeWorkloadAPIStub(channel)
            late = next(stub.FetchX509SVID(pb.X509SVIDRequest(), metadata=MD, timeout=30))
            assert late.svids[0].spiffe_id == f"{SERVER_ID}-late"
        assert agent.call(lambda a: a.stats.x509_issued) >= 3
        with pytest.raises(ValueError, match="not in the agent's trust domain"):
            agent.set_identities("late", ["spiffe://elsewhere.example/x"])
    assert list(sock_dir.iterdir()) == []
