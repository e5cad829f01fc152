"""Exit codes: 0 clean, 1 failures, 2 usage or setup, 3 internal (with a crash log), 130 interrupted."""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from .. import __version__
from ..errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, HdrtestError
from ..store.location import default_cache_dir
from ..toolchain import run
from .signals import Terminated

Command = Callable[[argparse.Namespace], int]


def _crash_log() -> Path:
    directory = default_cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        directory = Path(tempfile.gettempdir())
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = directory / f"crash-{stamp}-{os.getpid()}.log"
    path.write_text(f"hdrtest {__version__}\nargv: {sys.argv!r}\n\n{traceback.format_exc()}", encoding="utf-8")
    return path


def run_command(parser: argparse.ArgumentParser, commands: Mapping[str, Command], argv: Sequence[str] | None) -> int:
    """Parse, run the subcommand, and turn every way it can end into an exit code and one line on stderr."""
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return commands[args.command](args)
    except HdrtestError as exc:
        sys.stderr.write(f"hdrtest: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt as exc:
        stopped = run.terminate_all()
        what = f"{exc.args[0]} received" if isinstance(exc, Terminated) and exc.args else "interrupted"
        sys.stderr.write(f"hdrtest: {what}; all compilers stopped ({stopped} running)\n")
        return EXIT_INTERRUPTED
    except SystemExit as exc:  # --help / --version
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - the last line of defence: a crash log, exit 3
        try:
            log = _crash_log()
            where = f"crash log written to {log}"
        except OSError:
            where = "no crash log could be written"
        sys.stderr.write(f"hdrtest: internal error: {exc.__class__.__name__}: {exc}; {where}; please report it\n")
        return EXIT_INTERNAL
