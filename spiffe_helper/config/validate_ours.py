"""Validation helpers: the error builder, and our rules beyond the Go helper's (lifecycle blocks, file names)."""

from __future__ import annotations

from typing import NoReturn

from spiffe_helper.config.decoder import Decoded
from spiffe_helper.config.errors import HintedValidationError
from spiffe_helper.config.gostrconv import go_quote
from spiffe_helper.config.loader import ParsedConfig
from spiffe_helper.config.model import LOG_LEVELS, go_path_clean


class Checker:
    """Builds validation errors that name the file and the line of the key involved."""

    def __init__(self, parsed: ParsedConfig) -> None:
        self.file = parsed.file
        self.root = parsed.root

    def fail(
        self, message: str, key: str | None = None, *, block: Decoded | None = None, hint: str | None = None
    ) -> NoReturn:
        """Raise :class:`HintedValidationError` at ``key`` (in ``block``, else at top level)."""
        where = block if block is not None else self.root
        pos = where.key_pos.get(key) if key else None
        if pos is None and block is not None and block.pos.valid:
            pos = block.pos
        raise HintedValidationError(
            message,
            hint=hint,
            file=self.file,
            line=pos.line if pos else None,
            column=pos.column if pos else None,
            key=key,
        )

    def unknown(self, block: Decoded, what: str) -> None:
        """Go's unknown-key error for ``block``: names sorted, comma-joined; line of the first one."""
        if not block.unknown:
            return
        first = min((p for ps in block.unknown.values() for p in ps), key=lambda p: (p.line, p.column))
        raise HintedValidationError(
            f"{what}: {','.join(sorted(block.unknown))}",
            file=self.file,
            line=first.line or None,
            column=first.column or None,
        )


def log_level(c: Checker, root: Decoded) -> str:
    """``log_level`` lower-cased ("info" when unset); one of :data:`LOG_LEVELS`."""
    level = (root.get_str("log_level") or "info").lower()
    if level not in LOG_LEVELS:
        c.fail(f"log_level {go_quote(level)} is not one of {', '.join(LOG_LEVELS)}", "log_level")
    return level


def lifecycle_conflicts(c: Checker, root: Decoded, start: Decoded, reload: Decoded) -> None:
    """A legacy key and the block key that replaces it cannot both be used (PR #410's messages)."""
    has_start = "start" in root.key_pos
    cmd, cmd_args = root.get_str("cmd"), root.values["cmd_args"]
    if cmd and (start.get_str("cmd") or has_start):
        c.fail("cmd cannot be used with start.cmd", "cmd")
    if cmd_args and (start.values["args"] or has_start):
        c.fail("cmd_args cannot be used with start.args", "cmd_args")
    if root.get_str("renew_signal") and reload.get_str("signal"):
        c.fail("renew_signal cannot be used with reload.signal", "renew_signal")
    if root.get_str("pid_file_name") and reload.get_str("pid_file_name"):
        c.fail("pid_file_name cannot be used with reload.pid_file_name", "pid_file_name")


def check_file_names(c: Checker, root: Decoded, entries: list[Decoded]) -> None:
    """With a ``cert_dir``, every output file name must stay inside it (relative, no ``..`` escape).

    Without one, names are paths as given (absolute or relative to the working directory), exactly as the
    Go helper uses them: real configs rely on ``svid_file_name = "/opt/svid.pem"`` with no ``cert_dir``.
    """
    cert_dir = root.get_str("cert_dir")
    if not cert_dir:
        return
    named: list[tuple[str, str, Decoded]] = [
        (key, root.get_str(key), root)
        for key in ("svid_file_name", "svid_key_file_name", "svid_bundle_file_name", "jwt_bundle_file_name")
    ]
    named += [("jwt_svid_file_name", e.get_str("jwt_svid_file_name"), e) for e in entries]
    for key, name, block in named:
        if not name:
            continue
        cleaned = go_path_clean(name)
        if name.startswith("/") or cleaned == ".." or cleaned.startswith("../") or cleaned == ".":
            c.fail(
                f"{key} {go_quote(name)} is not a file name inside cert_dir {go_quote(cert_dir)}",
                key,
                block=None if block is root else block,
                hint="with cert_dir set, file names must be relative and stay inside it"
                " (the Go helper would silently write an absolute name under cert_dir)",
            )


_ROOT_PATH_KEYS = (
    "cert_dir",
    "svid_file_name",
    "svid_key_file_name",
    "svid_bundle_file_name",
    "jwt_bundle_file_name",
    "pid_file_name",
    "cmd",
    "cmd_args",
)


def reject_nul(c: Checker, root: Decoded, start: Decoded, reload: Decoded, entries: list[Decoded]) -> None:
    """No NUL byte in a path, command or argument: the OS cannot take one (Python would raise mid-run)."""
    checks: list[tuple[str, str, Decoded]] = [(k, k, root) for k in _ROOT_PATH_KEYS]
    checks += [(f"start.{k}", k, start) for k in ("cmd", "args")]
    checks += [(f"reload.{k}", k, reload) for k in ("cmd", "args", "pid_file_name")]
    checks += [(f"jwt_svids[{i}].jwt_svid_file_name", "jwt_svid_file_name", e) for i, e in enumerate(entries)]
    for name, key, block in checks:
        value = block.values.get(key)
        texts = value if isinstance(value, list | tuple) else (value,)
        if any(isinstance(t, str) and "\x00" in t for t in texts):
            c.fail(f"{name} must not contain a NUL byte", key, block=None if block is root else block)
