"""``spiffe-helper check``: validate a helper.conf and print the effective configuration.

Exit 0 when valid (warnings on stderr), 1 with the error on stderr when not. ``--json`` prints one object
with the helper.conf key names (the shape of the conformance corpus' ``final_after_validation``).
"""

from __future__ import annotations

import os

import click

from spiffe_helper.errors import EXIT_FAILURE, EXIT_OK, ConfigError


@click.command("check")
@click.option(
    "-config",
    "--config",
    "config_path",
    default="helper.conf",
    show_default=True,
    metavar="FILE",
    help="Configuration file (HCL, JSON, or *.toml).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the effective configuration as one JSON object.")
def check(config_path: str, as_json: bool) -> int:
    """Validate a configuration file and print the effective configuration (defaults applied)."""
    from spiffe_helper.config.loader import load_config
    from spiffe_helper.config.render import config_to_hcl, config_to_json
    from spiffe_helper.logs import setup_logging

    setup_logging("info", "text")
    try:
        config = load_config(config_path, environ=os.environ)
    except ConfigError as e:
        click.echo(str(e), err=True)
        return EXIT_FAILURE
    click.echo(config_to_json(config) if as_json else config_to_hcl(config), nl=as_json)
    return EXIT_OK
