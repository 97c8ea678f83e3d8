"""Error classes of spiffe-helper and the process exit codes they map to.

Only ``cli.py`` turns these into an exit status; everything else raises them. Each error renders as one
line (``str(err)``) that names what went wrong and, where there is one, the file, line and key.
"""

from __future__ import annotations

# Exit codes, documented in the README ("Exit codes").
EXIT_OK = 0
EXIT_FAILURE = 1  # bad config or runtime error, as the Go helper
EXIT_USAGE = 2  # bad command-line flag, as Go's flag package
EXIT_NOT_EXECUTABLE = 126  # the child command exists but cannot be executed
EXIT_NOT_FOUND = 127  # the child command was not found


class SpiffeHelperError(Exception):
    """Base class: an expected failure with a one-line message and an exit code."""

    exit_code: int = EXIT_FAILURE


class ConfigError(SpiffeHelperError):
    """The configuration file cannot be read, parsed or validated."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        key: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.key = key
        super().__init__(self.render())

    def render(self) -> str:
        """One line: ``file:line:column: key: message`` with the parts that are known."""
        where = ""
        if self.file is not None:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        key = f"{self.key}: " if self.key and self.key not in self.message else ""
        return f"{where}{key}{self.message}"


class ConfigParseError(ConfigError):
    """The file is not valid HCL / JSON / TOML, or a value has the wrong type."""


class ConfigValidationError(ConfigError):
    """The file decodes but fails a validation rule (Go's ``ValidateConfig`` messages)."""


class AddressError(SpiffeHelperError):
    """A Workload API address (``agent_address`` / ``SPIFFE_ENDPOINT_SOCKET``) is not usable."""


class SvidError(SpiffeHelperError):
    """An SVID or bundle from the Workload API does not satisfy the SPIFFE specs."""


class WriteError(SpiffeHelperError):
    """Credential files could not be written; the previous files are untouched."""


class SpawnError(SpiffeHelperError):
    """The child command could not be started."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
