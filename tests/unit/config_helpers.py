"""Shared helpers for the config tests: parse + validate text the way the helper does."""

from __future__ import annotations

from spiffe_helper.config.loader import parse_text
from spiffe_helper.config.model import Config
from spiffe_helper.config.validate import validate
from spiffe_helper.errors import ConfigError

X509 = 'svid_file_name = "a"\nsvid_key_file_name = "b"\nsvid_bundle_file_name = "c"\n'


def load(
    text: str,
    *,
    file: str = "helper.conf",
    daemon_mode: bool | None = None,
    environ: dict[str, str] | None = None,
    warnings: list[str] | None = None,
) -> Config:
    """The effective config for ``text`` (no environment unless given; warnings collected in a list)."""
    sink = warnings if warnings is not None else []
    return validate(parse_text(text, file=file), daemon_mode=daemon_mode, environ=environ or {}, warn=sink.append)


def error_of(text: str, *, file: str = "helper.conf", daemon_mode: bool | None = None) -> ConfigError:
    """The ConfigError ``text`` raises (fails the test when it loads)."""
    try:
        load(text, file=file, daemon_mode=daemon_mode)
    except ConfigError as e:
        return e
    raise AssertionError(f"expected a config error for {text!r}")
