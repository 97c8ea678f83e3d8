"""helper.conf: HCL1 / JSON / TOML decoding and validation with the Go helper's rules.

``load_config(path)`` gives the effective :class:`Config`; ``model`` holds the value types. The names below
are imported lazily, so importing ``spiffe_helper.config.model`` does not load the parsers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spiffe_helper.config.loader import ParsedConfig, load_config, parse_file, parse_text
    from spiffe_helper.config.model import Config, HealthChecksConfig, JwtSvidConfig, ReloadConfig, StartConfig
    from spiffe_helper.config.validate import validate

_EXPORTS = {
    "Config": "model",
    "HealthChecksConfig": "model",
    "JwtSvidConfig": "model",
    "ReloadConfig": "model",
    "StartConfig": "model",
    "ParsedConfig": "loader",
    "load_config": "loader",
    "parse_file": "loader",
    "parse_text": "loader",
    "validate": "validate",
}

__all__ = [
    "Config",
    "HealthChecksConfig",
    "JwtSvidConfig",
    "ParsedConfig",
    "ReloadConfig",
    "StartConfig",
    "load_config",
    "parse_file",
    "parse_text",
    "validate",
]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
