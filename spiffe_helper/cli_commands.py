"""The click side of ``spiffe-helper``: the lazy subcommand group, used only when a subcommand is named.

Kept out of :mod:`spiffe_helper.cli` so that the Go-compatible root (a helper run, ``-h``, ``-version``)
never imports click, which costs a cold start ~25 ms (click pulls in uuid, platform and gettext).
Each subcommand's module is imported only when that subcommand runs (table: ``cli.SUBCOMMANDS``).
"""

from __future__ import annotations

import importlib

import click

from spiffe_helper.cli import SUBCOMMANDS
from spiffe_helper.errors import EXIT_FAILURE, EXIT_OK


def _not_implemented(name: str) -> click.Command:
    @click.command(name, context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def stub(args: tuple[str, ...]) -> int:
        click.echo(f"spiffe-helper {name}: not implemented yet", err=True)
        return EXIT_FAILURE

    return stub


class LazyGroup(click.Group):
    """A click group that imports each subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """All subcommand names."""
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import ``module:attribute`` for ``cmd_name`` (a stub when the module does not exist yet)."""
        target = SUBCOMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name is not None and module_name.startswith(e.name):
                return _not_implemented(cmd_name)
            raise
        command = getattr(module, attribute, None)
        return command if isinstance(command, click.Command) else _not_implemented(cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def commands() -> None:
    """spiffe-helper subcommands (run without a command for the Go-compatible helper)."""


def run_subcommand(argv: list[str]) -> int:
    """Run ``argv`` (its first item names a subcommand) through click; returns the exit code."""
    try:
        rv = commands.main(args=argv, prog_name="spiffe-helper", standalone_mode=False)
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        return EXIT_FAILURE
    if isinstance(rv, bool) or not isinstance(rv, int):
        return EXIT_OK
    return rv
