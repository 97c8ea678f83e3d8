"""Validation: the Go helper's ValidateConfig rules in its order with its exact messages and warnings
(reference section 4.5), the defaults it applies, and our rules that come after Go's.
"""

from __future__ import annotations

import pytest

from spiffe_helper.config.model import Config
from spiffe_helper.errors import ConfigValidationError
from tests.unit.config_helpers import X509, error_of, load

AT_LEAST_ONE = (
    "at least one of the sets ('svid_file_name', 'svid_key_file_name', 'svid_bundle_file_name'),"
    " 'jwt_svids', or 'jwt_bundle_file_name' must be fully specified"
)
ALL_OR_NONE = "all or none of 'svid_file_name', 'svid_key_file_name', 'svid_bundle_file_name' must be specified"
CMD_WARNING = "cmd is set but daemon_mode is false. cmd will be ignored. This may become an error in a future release."
SIGNAL_WARNING = (
    "renew_signal is set but daemon_mode is false. renew_signal will be ignored."
    " This may become an error in a future release."
)
PID_ONESHOT = "pid_file_name is set but daemon_mode is false. pid_file_name is only supported in daemon_mode"


def message(text: str, **kw: object) -> str:
    err = error_of(text, **kw)  # type: ignore[arg-type]
    assert isinstance(err, ConfigValidationError), err
    return err.message


def test_defaults_of_a_minimal_x509_config() -> None:
    cfg = load(X509)
    assert cfg == Config(
        svid_file_name="a",
        svid_key_file_name="b",
        svid_bundle_file_name="c",
        health_checks=cfg.health_checks,
    )
    assert (cfg.cert_file_mode, cfg.key_file_mode, cfg.jwt_bundle_file_mode, cfg.jwt_svid_file_mode) == (
        0o644,
        0o600,
        0o600,
        0o600,
    )
    assert cfg.agent_address == "/tmp/spire-agent/public/api.sock"
    assert cfg.daemon_mode is True
    # Go applies health defaults only when the listener is enabled.
    hc = cfg.health_checks
    assert (hc.listener_enabled, hc.bind_port, hc.liveness_path, hc.readiness_path) == (False, 0, "", "")


def test_health_defaults_when_enabled() -> None:
    hc = load(X509 + "health_checks {\n listener_enabled = true\n}\n").health_checks
    assert (hc.bind_port, hc.liveness_path, hc.readiness_path, hc.bind_address) == (8081, "/live", "/ready", "")


def test_unknown_top_level_keys_sorted_comma_joined() -> None:
    err = error_of('agent_address = "/tmp"\nfoo = "bar"\nbar = "foo"\n')
    assert err.message == "unknown top level key(s): bar,foo"
    assert err.line == 2


def test_unknown_keys_in_jwt_entry_name_the_index() -> None:
    text = (
        'jwt_svids = [\n {jwt_audience = "a", jwt_svid_file_name = "f"},\n'
        ' {jwt_audience = "b", jwt_svid_file_name = "g", foo = "bar", bar = "foo"}\n]\n'
    )
    assert message(text) == "unknown key(s) in jwt_svids[1]: bar,foo"


def test_unknown_keys_come_before_every_other_rule() -> None:
    assert message('timeout = "10s"\n') == "unknown top level key(s): timeout"


@pytest.mark.parametrize(
    "key",
    ["agentAddress", "svidFileName", "renewSignal", "addIntermediatesToBundle", "exit_when_ready", "timeout"],
)
def test_removed_keys_are_unknown(key: str) -> None:
    assert message(X509 + f'{key} = "x"\n') == f"unknown top level key(s): {key}"


def test_jwt_file_name_checked_before_audience_with_gos_wrong_key_name() -> None:
    assert message('jwt_svids = [{jwt_audience = "a"}]\n') == "'jwt_file_name' is required in 'jwt_svids'"
    assert message('jwt_svids = [{jwt_svid_file_name = "f"}]\n') == "'jwt_audience' is required in 'jwt_svids'"
    assert message("jwt_svids = [{}]\n") == "'jwt_file_name' is required in 'jwt_svids'"


def test_jwt_rule_comes_before_x509_rule() -> None:
    assert message('svid_file_name = "a"\njwt_svids = [{jwt_audience = "a"}]\n').startswith("'jwt_file_name'")


def test_agent_address_from_environment_verbatim() -> None:
    env = {"SPIFFE_ENDPOINT_SOCKET": "unix:///run/agent.sock"}
    assert load(X509, environ=env).agent_address == "unix:///run/agent.sock"
    assert load(X509 + 'agent_address = "/x"\n', environ=env).agent_address == "/x"


def test_one_shot_warnings_in_go_order() -> None:
    warnings: list[str] = []
    cfg = load(X509 + 'daemon_mode = false\ncmd = "echo"\nrenew_signal = "SIGHUP"\n', warnings=warnings)
    assert cfg.daemon_mode is False
    assert warnings == [CMD_WARNING, SIGNAL_WARNING]


def test_one_shot_pid_file_is_an_error_after_the_warnings() -> None:
    warnings: list[str] = []
    with pytest.raises(ConfigValidationError) as info:
        load(
            X509 + 'daemon_mode = false\ncmd = "x"\npid_file_name = "/p"\nrenew_signal = "SIGHUP"\n', warnings=warnings
        )
    assert info.value.message == PID_ONESHOT
    assert warnings == [CMD_WARNING, SIGNAL_WARNING]


def test_daemon_mode_flag_overrides_file() -> None:
    assert load(X509 + "daemon_mode = true\n", daemon_mode=False).daemon_mode is False
    assert load(X509 + "daemon_mode = false\n", daemon_mode=True).daemon_mode is True
    assert load(X509 + "daemon_mode = false\n").daemon_mode is False
    assert message(X509 + 'pid_file_name = "/p"\nrenew_signal = "SIGHUP"\n', daemon_mode=False) == PID_ONESHOT


def test_pid_file_needs_renew_signal_but_cmd_does_not() -> None:
    assert message(X509 + 'pid_file_name = "/p"\n') == "must specify renew_signal when using pid_file_name"
    assert load(X509 + 'cmd = "echo"\n').cmd == "echo"


def test_x509_all_or_none() -> None:
    assert message('svid_file_name = "a"\n') == ALL_OR_NONE
    assert message('svid_file_name = "a"\nsvid_key_file_name = "b"\njwt_bundle_file_name = "j"\n') == ALL_OR_NONE


def test_something_must_be_written() -> None:
    assert message('agent_address = "/x"\n') == AT_LEAST_ONE
    assert load('jwt_bundle_file_name = "b.json"\n').jwt_bundle_enabled


@pytest.mark.parametrize(
    ("key", "text"),
    [
        ("cert_file_mode", "cert file mode must be positive"),
        ("key_file_mode", "key file mode must be positive"),
        ("jwt_bundle_file_mode", "jwt bundle file mode must be positive"),
        ("jwt_svid_file_mode", "jwt svid file mode must be positive"),
    ],
)
def test_negative_modes(key: str, text: str) -> None:
    err = error_of(X509 + f"{key} = -1\n")
    assert (err.message, err.line, err.key) == (text, 4, key)


def test_modes_checked_in_go_order() -> None:
    assert message(X509 + "jwt_svid_file_mode = -1\ncert_file_mode = -1\n") == "cert file mode must be positive"


def test_bind_port_negative_only_matters_when_enabled() -> None:
    assert load(X509 + "health_checks {\n bind_port = -1\n}\n").health_checks.bind_port == -1
    text = X509 + "health_checks {\n listener_enabled = true\n bind_port = -1\n}\n"
    assert message(text) == "bind port must be positive"


def test_validation_error_renders_file_line_and_key() -> None:
    err = error_of(X509 + "key_file_mode = -1\n", file="/etc/helper.conf")
    assert str(err) == "/etc/helper.conf:4:1: key_file_mode: key file mode must be positive"


# -- our keys and rules (after every Go rule) -----------------------------------------------------------
def test_new_keys_defaults_and_values() -> None:
    cfg = load(X509)
    assert (cfg.log_level, cfg.log_format, cfg.file_layout) == ("info", "text", "atomic_dir")
    assert (cfg.oneshot_timeout, cfg.shutdown_grace_period, cfg.start, cfg.reload) == (60.0, 10.0, None, None)
    cfg = load(
        X509 + 'log_level = "DEBUG"\nlog_format = "json"\nfile_layout = "plain"\n'
        'oneshot_timeout = "1m30s"\nshutdown_grace_period = 3\n'
    )
    assert (cfg.log_level, cfg.log_format, cfg.file_layout) == ("debug", "json", "plain")
    assert (cfg.oneshot_timeout, cfg.shutdown_grace_period) == (90.0, 3.0)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('log_level = "loud"', 'log_level "loud" is not one of debug, info, warn, warning, error, fatal, panic'),
        ('log_format = "xml"', 'log_format "xml" is not one of text, json'),
        ('file_layout = "tree"', 'file_layout "tree" is not one of atomic_dir, plain'),
        ("oneshot_timeout = -5", "oneshot_timeout must be zero or more seconds"),
        ('shutdown_grace_period = "-1s"', "shutdown_grace_period must be zero or more seconds"),
    ],
)
def test_new_keys_invalid_values(line: str, expected: str) -> None:
    err = error_of(X509 + line + "\n")
    assert (err.message, err.line) == (expected, 4)


def test_oneshot_timeout_bad_syntax_is_a_parse_error() -> None:
    err = error_of(X509 + 'oneshot_timeout = "soon"\n')
    assert err.line == 4 and "oneshot_timeout" in err.message


def test_start_and_reload_blocks() -> None:
    cfg = load(
        X509 + 'start {\n cmd = "envoy"\n args = "-c envoy.yaml"\n restart = "on-failure"\n}\n'
        'reload {\n signal = "SIGHUP"\n pid_file_name = "/run/x.pid"\n cmd = "mysql"\n args = ["-e", "x"]\n}\n'
    )
    assert cfg.start is not None and cfg.reload is not None
    assert (cfg.start.cmd, cfg.start.args, cfg.start.restart) == ("envoy", ("-c", "envoy.yaml"), "on-failure")
    assert (cfg.reload.signal, cfg.reload.pid_file_name, cfg.reload.cmd, cfg.reload.args) == (
        "SIGHUP",
        "/run/x.pid",
        "mysql",
        ("-e", "x"),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('cmd = "a"\nstart {\n cmd = "b"\n}\n', "cmd cannot be used with start.cmd"),
        ('cmd_args = "x"\nstart {\n cmd = "b"\n args = "y"\n}\n', "cmd_args cannot be used with start.args"),
        (
            'renew_signal = "SIGHUP"\nreload {\n signal = "SIGUSR1"\n}\n',
            "renew_signal cannot be used with reload.signal",
        ),
        (
            'pid_file_name = "/a"\nrenew_signal = "SIGHUP"\nreload {\n pid_file_name = "/b"\n}\n',
            "pid_file_name cannot be used with reload.pid_file_name",
        ),
        ('start {\n foo = 1\n cmd = "x"\n}\n', "unknown key(s) in start: foo"),
        ('reload {\n signal = "SIGHUP"\n foo = "bar"\n}\n', "unknown key(s) in reload: foo"),
        ('start {\n args = "x"\n}\n', "'cmd' is required in 'start'"),
        (
            'start {\n cmd = "x"\n restart = "sometimes"\n}\n',
            'start.restart "sometimes" is not one of never, on-failure, always',
        ),
        ('reload {\n pid_file_name = "/p"\n}\n', "must specify reload.signal when using reload.pid_file_name"),
    ],
)
def test_lifecycle_block_rules(text: str, expected: str) -> None:
    assert message(X509 + text) == expected


def test_legacy_signal_with_reload_pid_file_is_fine() -> None:
    cfg = load(X509 + 'renew_signal = "SIGHUP"\nreload {\n pid_file_name = "/p"\n}\n')
    assert cfg.reload is not None and cfg.reload.pid_file_name == "/p"


def test_file_names_must_stay_in_cert_dir() -> None:
    for name in ("/etc/x.pem", "../x.pem", "a/../../x.pem"):
        err = error_of(
            f'cert_dir = "certs"\nsvid_file_name = "{name}"\nsvid_key_file_name = "k"\nsvid_bundle_file_name = "b"\n'
        )
        assert err.key == "svid_file_name" and err.line == 2
    err = error_of('cert_dir = "certs"\njwt_svids = [{jwt_audience = "a", jwt_svid_file_name = "/t"}]\n')
    assert err.key == "jwt_svid_file_name"
    cfg = load(
        'cert_dir = "certs"\nsvid_file_name = "sub/../a.pem"\nsvid_key_file_name = "k"\nsvid_bundle_file_name = "b"\n'
    )
    assert cfg.path(cfg.svid_file_name) == "certs/a.pem"


def test_absolute_names_without_cert_dir_are_used_as_given() -> None:
    # Real configs (kagenti) write /opt/svid.pem with no cert_dir; Go accepts them, so do we.
    cfg = load(
        'svid_file_name = "/opt/svid.pem"\nsvid_key_file_name = "/opt/k.pem"\nsvid_bundle_file_name = "../b.pem"\n'
    )
    assert (cfg.path(cfg.svid_file_name), cfg.path(cfg.svid_bundle_file_name)) == ("/opt/svid.pem", "../b.pem")


def test_health_paths_go_would_panic_on_are_rejected_in_daemon_mode_only() -> None:
    base = X509 + "health_checks {\n listener_enabled = true\n"
    assert message(base + ' liveness_path = "live"\n}\n') == 'health_checks.liveness_path "live" must start with /'
    same = base + ' readiness_path = "/live"\n}\n'
    assert message(same) == "health_checks.readiness_path must differ from health_checks.liveness_path"
    assert load(same + "daemon_mode = false\n").health_checks.readiness_path == "/live"


def test_runtime_problems_go_ignores_are_warned_about() -> None:
    warnings: list[str] = []
    load(X509 + 'cmd = "x"\ncmd_args = "a\\"b"\nrenew_signal = "HUP"\n', warnings=warnings)
    assert any(w.startswith("cmd_args cannot be split") for w in warnings)
    assert any(w.startswith('renew_signal "HUP" is not a signal name') for w in warnings)


def test_lifecycle_blocks_in_one_shot_mode_follow_pr_410() -> None:
    warnings: list[str] = []
    load(X509 + 'daemon_mode = false\nstart {\n cmd = "envoy"\n}\nreload {\n signal = "SIGHUP"\n}\n', warnings=warnings)
    assert [w.split(" is set")[0] for w in warnings] == ["start.cmd", "reload.signal"]
    err = error_of(X509 + 'daemon_mode = false\nreload {\n signal = "SIGHUP"\n pid_file_name = "/p"\n}\n')
    assert (err.message, err.line) == (PID_ONESHOT, 7)
