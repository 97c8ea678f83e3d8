"""The effective configuration as JSON (``check --json``) or as HCL text (``check``).

The JSON object has the Go helper's key names and order, file modes as integers, ``daemon_mode`` resolved,
``health_checks`` nested and ``jwt_svids`` as a list of objects; our keys follow the Go ones. Lists are always
lists (Go's JSON would print ``null`` for an absent list).
"""

from __future__ import annotations

import json
from typing import Any

from spiffe_helper.config.model import Config, ReloadConfig, StartConfig


def _args(value: str | tuple[str, ...]) -> str | list[str]:
    return list(value) if isinstance(value, tuple) else value


def _start(start: StartConfig | None) -> dict[str, Any] | None:
    if start is None:
        return None
    return {"cmd": start.cmd, "args": list(start.args), "restart": start.restart}


def _reload(reload: ReloadConfig | None) -> dict[str, Any] | None:
    if reload is None:
        return None
    return {
        "signal": reload.signal,
        "cmd": reload.cmd,
        "args": list(reload.args),
        "pid_file_name": reload.pid_file_name,
    }


def config_to_dict(config: Config) -> dict[str, Any]:
    """The JSON-ready effective configuration (same shape as the conformance ``final_after_validation``)."""
    hc = config.health_checks
    return {
        "add_intermediates_to_bundle": config.add_intermediates_to_bundle,
        "agent_address": config.agent_address,
        "cmd": config.cmd,
        "cmd_args": _args(config.cmd_args),
        "pid_file_name": config.pid_file_name,
        "cert_dir": config.cert_dir,
        "cert_file_mode": config.cert_file_mode,
        "key_file_mode": config.key_file_mode,
        "jwt_bundle_file_mode": config.jwt_bundle_file_mode,
        "jwt_svid_file_mode": config.jwt_svid_file_mode,
        "include_federated_domains": config.include_federated_domains,
        "omit_expired": config.omit_expired,
        "renew_signal": config.renew_signal,
        "daemon_mode": config.daemon_mode,
        "health_checks": {
            "listener_enabled": hc.listener_enabled,
            "bind_port": hc.bind_port,
            "liveness_path": hc.liveness_path,
            "readiness_path": hc.readiness_path,
            "bind_address": hc.bind_address,
        },
        "hint": config.hint,
        "svid_file_name": config.svid_file_name,
        "svid_key_file_name": config.svid_key_file_name,
        "svid_bundle_file_name": config.svid_bundle_file_name,
        "jwt_svids": [
            {
                "jwt_audience": j.jwt_audience,
                "jwt_extra_audiences": list(j.jwt_extra_audiences),
                "jwt_svid_file_name": j.jwt_svid_file_name,
            }
            for j in config.jwt_svids
        ],
        "jwt_bundle_file_name": config.jwt_bundle_file_name,
        "log_level": config.log_level,
        "log_format": config.log_format,
        "oneshot_timeout": config.oneshot_timeout,
        "file_layout": config.file_layout,
        "shutdown_grace_period": config.shutdown_grace_period,
        "start": _start(config.start),
        "reload": _reload(config.reload),
    }


def config_to_json(config: Config) -> str:
    """One JSON object, indented."""
    return json.dumps(config_to_dict(config), indent=2)


def _hcl_value(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and key.endswith("_mode"):
        return f"0{value:o}"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_hcl_value(key, v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_hcl_value(k, v)}" for k, v in value.items()) + "}"
    return json.dumps(value, ensure_ascii=False)


def config_to_hcl(config: Config) -> str:
    """The effective configuration in helper.conf syntax (modes in octal), one key per line."""
    lines = []
    for key, value in config_to_dict(config).items():
        if value is None:
            continue
        if isinstance(value, dict):
            body = "\n".join(f"  {k} = {_hcl_value(k, v)}" for k, v in value.items())
            lines.append(f"{key} {{\n{body}\n}}")
        else:
            lines.append(f"{key} = {_hcl_value(key, value)}")
    return "\n".join(lines) + "\n"
