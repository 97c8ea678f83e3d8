"""The helper.conf keys, in the Go helper's struct order (which decides which decode error Go reports first).

Our own keys come after all of Go's, so a file that only uses Go keys decodes exactly as in Go.
"""

from __future__ import annotations

from spiffe_helper.config.decoder import Field, Kind, StructSpec

HEALTH_CHECKS = StructSpec(
    "health_checks",
    (
        Field("listener_enabled", Kind.BOOL),
        Field("bind_port", Kind.INT),
        Field("liveness_path", Kind.STRING),
        Field("readiness_path", Kind.STRING),
        Field("bind_address", Kind.STRING),  # ours
    ),
    track_unknown=False,  # Go's health.Config has no unusedKeyPositions: unknown keys are ignored
)

JWT_SVID = StructSpec(
    "jwt_svids",
    (
        Field("jwt_audience", Kind.STRING),
        Field("jwt_extra_audiences", Kind.STRING_LIST),
        Field("jwt_svid_file_name", Kind.STRING),
    ),
    track_unknown=True,
)

# PR #410 lifecycle blocks (ours until the Go helper merges them).
START = StructSpec(
    "start",
    (
        Field("cmd", Kind.STRING),
        Field("args", Kind.ARGS),
        Field("restart", Kind.STRING),
    ),
    track_unknown=True,
)

RELOAD = StructSpec(
    "reload",
    (
        Field("cmd", Kind.STRING),
        Field("args", Kind.ARGS),
        Field("signal", Kind.STRING),
        Field("pid_file_name", Kind.STRING),
    ),
    track_unknown=True,
)

ROOT = StructSpec(
    "",
    (
        Field("add_intermediates_to_bundle", Kind.BOOL),
        Field("agent_address", Kind.STRING),
        Field("cmd", Kind.STRING),
        Field("cmd_args", Kind.ARGS),  # Go: a string only; ours also a list of strings
        Field("pid_file_name", Kind.STRING),
        Field("cert_dir", Kind.STRING),
        Field("cert_file_mode", Kind.INT),
        Field("key_file_mode", Kind.INT),
        Field("jwt_bundle_file_mode", Kind.INT),
        Field("jwt_svid_file_mode", Kind.INT),
        Field("include_federated_domains", Kind.BOOL),
        Field("omit_expired", Kind.BOOL),
        Field("renew_signal", Kind.STRING),
        Field("daemon_mode", Kind.OPT_BOOL),
        Field("health_checks", Kind.STRUCT, HEALTH_CHECKS),
        Field("hint", Kind.STRING),
        Field("svid_file_name", Kind.STRING),
        Field("svid_key_file_name", Kind.STRING),
        Field("svid_bundle_file_name", Kind.STRING),
        Field("jwt_svids", Kind.STRUCT_LIST, JWT_SVID),
        Field("jwt_bundle_file_name", Kind.STRING),
        # ours
        Field("log_level", Kind.STRING),
        Field("log_format", Kind.STRING),
        Field("oneshot_timeout", Kind.DURATION),
        Field("file_layout", Kind.STRING),
        Field("shutdown_grace_period", Kind.DURATION),
        Field("start", Kind.STRUCT, START),
        Field("reload", Kind.STRUCT, RELOAD),
    ),
    track_unknown=True,
)
