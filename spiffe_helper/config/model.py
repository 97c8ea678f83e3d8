"""The validated configuration: frozen values, one field per helper.conf key.

Every field is named exactly as its helper.conf key. The field defaults are the effective defaults
(what validation fills in for a key that is not set), so code and tests can build a ``Config`` directly.
Two Go quirks are kept by validation rather than here: ``health_checks`` defaults are only applied when
``listener_enabled`` is true (the Go helper leaves ``bind_port = 0`` etc. otherwise), and
``agent_address`` falls back to ``$SPIFFE_ENDPOINT_SOCKET`` before the constant below.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

DEFAULT_AGENT_ADDRESS = "/tmp/spire-agent/public/api.sock"
DEFAULT_CERT_FILE_MODE = 0o644
DEFAULT_KEY_FILE_MODE = 0o600
DEFAULT_JWT_BUNDLE_FILE_MODE = 0o600
DEFAULT_JWT_SVID_FILE_MODE = 0o600
DEFAULT_BIND_PORT = 8081
DEFAULT_LIVENESS_PATH = "/live"
DEFAULT_READINESS_PATH = "/ready"
DEFAULT_ONESHOT_TIMEOUT = 60.0
DEFAULT_SHUTDOWN_GRACE_PERIOD = 10.0

LOG_LEVELS = ("debug", "info", "warn", "warning", "error", "fatal", "panic")
LOG_FORMATS = ("text", "json")
FILE_LAYOUTS = ("atomic_dir", "plain")
RESTART_POLICIES = ("never", "on-failure", "always")

RestartPolicy = Literal["never", "on-failure", "always"]


# NamedTuples, not frozen dataclasses: a dataclass builds its methods with exec, which cost every cold start
# 7-11 ms for these five. Immutable and compared by value all the same.
class JwtSvidConfig(NamedTuple):
    """One ``jwt_svids = [{...}]`` entry: a JWT SVID to fetch and write to a file."""

    jwt_audience: str = ""
    jwt_extra_audiences: tuple[str, ...] = ()
    jwt_svid_file_name: str = ""


class HealthChecksConfig(NamedTuple):
    """The ``health_checks { ... }`` block: the HTTP liveness/readiness server (daemon mode only)."""

    listener_enabled: bool = False
    bind_port: int = DEFAULT_BIND_PORT
    liveness_path: str = DEFAULT_LIVENESS_PATH
    readiness_path: str = DEFAULT_READINESS_PATH
    # Ours: "" binds all interfaces, as the Go helper always does.
    bind_address: str = ""


class StartConfig(NamedTuple):
    """The ``start { cmd = "...", args = [...] }`` block (PR #410 wrapper mode): the workload to run."""

    cmd: str
    args: tuple[str, ...] = ()
    restart: RestartPolicy = "never"


class ReloadConfig(NamedTuple):
    """The ``reload { ... }`` block (PR #410): what to do when new credentials are written.

    ``signal`` is sent to the PID in ``pid_file_name`` when that is set, otherwise to the started workload
    (not both: a shell wrapper started by ``start {}`` would die of an untrapped SIGHUP); ``cmd`` with
    ``args`` is run to completion instead of, or in addition to, signalling.
    """

    signal: str = ""
    cmd: str = ""
    args: tuple[str, ...] = ()
    pid_file_name: str = ""


class Config(NamedTuple):
    """The effective helper configuration after validation (defaults applied)."""

    agent_address: str = DEFAULT_AGENT_ADDRESS
    cmd: str = ""
    # A string is split like the Go helper (encoding/csv, space separated); a tuple is used as argv as is.
    cmd_args: str | tuple[str, ...] = ""
    pid_file_name: str = ""
    cert_dir: str = ""
    cert_file_mode: int = DEFAULT_CERT_FILE_MODE
    key_file_mode: int = DEFAULT_KEY_FILE_MODE
    jwt_bundle_file_mode: int = DEFAULT_JWT_BUNDLE_FILE_MODE
    jwt_svid_file_mode: int = DEFAULT_JWT_SVID_FILE_MODE
    include_federated_domains: bool = False
    omit_expired: bool = False
    renew_signal: str = ""
    daemon_mode: bool = True
    add_intermediates_to_bundle: bool = False
    hint: str = ""
    svid_file_name: str = ""
    svid_key_file_name: str = ""
    svid_bundle_file_name: str = ""
    jwt_bundle_file_name: str = ""
    jwt_svids: tuple[JwtSvidConfig, ...] = ()
    health_checks: HealthChecksConfig = HealthChecksConfig()
    # Keys that are ours, not the Go helper's.
    log_level: str = "info"
    log_format: str = "text"
    oneshot_timeout: float = DEFAULT_ONESHOT_TIMEOUT
    file_layout: str = "atomic_dir"
    shutdown_grace_period: float = DEFAULT_SHUTDOWN_GRACE_PERIOD
    start: StartConfig | None = None
    reload: ReloadConfig | None = None

    @property
    def x509_enabled(self) -> bool:
        """True when the X.509 trio (cert, key, bundle file names) is configured."""
        return bool(self.svid_file_name and self.svid_key_file_name and self.svid_bundle_file_name)

    @property
    def jwt_bundle_enabled(self) -> bool:
        """True when a JWT bundle file is configured."""
        return bool(self.jwt_bundle_file_name)

    @property
    def jwt_svids_enabled(self) -> bool:
        """True when at least one JWT SVID is configured."""
        return len(self.jwt_svids) > 0

    def path(self, name: str) -> str:
        """The output path of file ``name``: Go's ``path.Join(cert_dir, name)``.

        With an empty ``cert_dir`` the name is used as given (absolute or relative to the working directory);
        otherwise the joined path is cleaned like Go's ``path.Clean`` (validation rejects names that would
        leave ``cert_dir``).
        """
        return go_path_join(self.cert_dir, name)

    def replace(self, **changes: object) -> Config:
        """A copy with some fields changed (``_replace``, which raises ``ValueError`` for an unknown name)."""
        return self._replace(**changes)  # type: ignore[arg-type]


def go_path_clean(p: str) -> str:
    """Go's ``path.Clean``: lexical cleanup of a slash-separated path ("" becomes ".")."""
    if p == "":
        return "."
    rooted = p.startswith("/")
    out: list[str] = []
    for part in p.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(part)
    cleaned = "/".join(out)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def go_path_join(*elems: str) -> str:
    """Go's ``path.Join``: join the non-empty elements with "/" and clean; "" when all are empty."""
    parts = [e for e in elems if e]
    if not parts:
        return ""
    return go_path_clean("/".join(parts))
