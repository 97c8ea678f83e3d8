"""Regression tests for the review's defects: NUL bytes, deep TOML, odd keys, special mode bits, FIFO pid files."""

from __future__ import annotations

import base64
import os
import stat
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from spiffe_helper.config.loader import parse_text
from spiffe_helper.errors import ConfigError
from spiffe_helper.inspect import inspect
from spiffe_helper.process.pidfile import PidFileError, read_pid_file
from spiffe_helper.store.fileops import DIR_FLAGS, create_file
from tests.unit.config_helpers import X509, error_of, load

# --- F4: a NUL byte in a path, command or argument is a config error, not a ValueError mid-run.


@pytest.mark.parametrize(
    ("text", "name", "line"),
    [
        ('cert_dir = "a\\u0000b"\n' + X509, "cert_dir", 1),
        (X509 + 'svid_key_file_name = "k\\u0000"\n', "svid_key_file_name", 4),
        ('jwt_bundle_file_name = "j\\u0000"\n', "jwt_bundle_file_name", 1),
        (X509 + 'cmd = "/bin/\\u0000sh"\n', "cmd", 4),
        (X509 + 'cmd = "/bin/sh"\ncmd_args = "-c \\u0000"\n', "cmd_args", 5),
        (X509 + 'renew_signal = "SIGHUP"\npid_file_name = "p\\u0000"\n', "pid_file_name", 5),
        (X509 + 'reload {\n  signal = "SIGHUP"\n  pid_file_name = "p\\u0000"\n}\n', "reload.pid_file_name", 6),
        (X509 + 'start {\n  cmd = "x"\n  args = ["a", "b\\u0000"]\n}\n', "start.args", 6),
        (
            'jwt_svids = [{jwt_audience = "a", jwt_svid_file_name = "t\\u0000"}]\n',
            "jwt_svids[0].jwt_svid_file_name",
            1,
        ),
    ],
)
def test_nul_byte_is_a_one_line_config_error(text: str, name: str, line: int) -> None:
    err = error_of(text)
    assert str(err) == f"helper.conf:{line}:{err.column}: {name} must not contain a NUL byte"
    assert "\n" not in str(err)


def test_names_without_nul_still_load() -> None:
    assert load('cert_dir = "d"\n' + X509).cert_dir == "d"


# --- F6: TOML nested deeper than Python's stack is a one-line parse error with file and line.


def test_deep_toml_is_a_parse_error() -> None:
    text = 'log_level = "info"\na = ' + "[" * 5000 + "]" * 5000 + "\n"
    with pytest.raises(ConfigError) as err:
        parse_text(text, file="deep.toml")
    message = str(err.value)
    assert message.startswith("deep.toml:2:") and "nesting too deep" in message
    assert "\n" not in message


# --- F7: inspect reports a key of an unknown algorithm like any other unreadable file.


def test_inspect_unknown_key_algorithm(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    der = bytearray(
        key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    at = der.find(bytes.fromhex("2a8648ce3d0201"))  # id-ecPublicKey -> an OID nobody knows
    der[at + 6] = 9
    pem = b"-----BEGIN PRIVATE KEY-----\n" + base64.encodebytes(bytes(der)) + b"-----END PRIVATE KEY-----\n"
    (tmp_path / "weird.pem").write_bytes(pem)
    res = CliRunner().invoke(inspect, [str(tmp_path)], standalone_mode=False)
    assert res.exception is None, res.exception
    assert "weird.pem: Unknown key type" in res.output


# --- F8: setuid/setgid/sticky bits are dropped like Go's FileMode.Perm().


@pytest.mark.parametrize("mode", [0o4777, 0o2640, 0o1600, 0o7644])
def test_special_mode_bits_are_masked(tmp_path: Path, mode: int) -> None:
    dfd = os.open(tmp_path, DIR_FLAGS)
    try:
        os.close(create_file(dfd, "f", b"x", mode))
    finally:
        os.close(dfd)
    st = os.stat(tmp_path / "f")
    assert stat.S_IMODE(st.st_mode) == mode & 0o777


def test_config_keeps_decoded_mode() -> None:
    assert load(X509 + "key_file_mode = 04777\n").key_file_mode == 0o4777


# --- F10: a FIFO as pid file is an error, never a blocked read.


def test_fifo_pid_file_does_not_block(tmp_path: Path) -> None:
    fifo = str(tmp_path / "p.pid")
    os.mkfifo(fifo)
    outcome: list[str] = []

    def read() -> None:
        try:
            read_pid_file(fifo)
        except PidFileError as err:
            outcome.append(str(err))

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(10)
    if t.is_alive():  # unblock the stuck reader so the test process can exit
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("read_pid_file blocked on a FIFO")
    assert outcome == [f'failed to read pid file "{fifo}": read {fifo}: not a regular file']
