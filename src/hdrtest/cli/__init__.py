"""Command line: a thin layer over ``hdrtest.check`` and friends.

It parses options into a checked run configuration (``options``), maps errors to exit codes
(``exits``) and writes reports (``output``); all behaviour lives in the library.  One module
per subcommand.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..toolchain import run
from .audit import cmd_audit
from .cache import cmd_cache
from .check import cmd_check
from .diff import cmd_diff
from .exits import Command, run_command
from .fix import cmd_fix
from .options import settings_from_args
from .parser import build_parser
from .series import cmd_bisect, cmd_series
from .signals import install_signal_handlers, restore_signal_handlers

__all__ = ["build_parser", "main", "settings_from_args"]

COMMANDS: dict[str, Command] = {"check": cmd_check, "fix": cmd_fix, "diff": cmd_diff, "series": cmd_series,
                                "bisect": cmd_bisect, "cache": cmd_cache, "audit": cmd_audit}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    previous = install_signal_handlers()
    try:
        return run_command(parser, COMMANDS, argv)
    finally:
        restore_signal_handlers(previous)
        run.reset()
