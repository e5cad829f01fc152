"""User-facing errors and hdrtest's exit codes."""

from __future__ import annotations

EXIT_CLEAN = 0
EXIT_FAILURES = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


class HdrtestError(Exception):
    """An error the user can fix; printed as one line, exit code 2.

    The message names the file at fault and says what to do about it, so the CLI
    never needs to show a traceback for it.
    """

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, path: object | None = None, hint: str | None = None) -> None:
        self.path = path
        self.hint = hint
        text = f"{path}: {message}" if path is not None else message
        if hint:
            text += f" ({hint})"
        super().__init__(text)


class SetupError(HdrtestError):
    """The environment is not usable: compiler missing, compile database broken."""


class UsageError(HdrtestError):
    """The command line or settings file asks for something impossible."""
