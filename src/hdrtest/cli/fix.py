"""``hdrtest fix``: the edits that make failing headers pass, shown as a diff or applied."""

from __future__ import annotations

import argparse
import sys

from ..fix import run_fix
from ..progress import Progress
from .options import run_config


def cmd_fix(args: argparse.Namespace) -> int:
    config = run_config(args, [])
    with Progress(quiet=config.quiet) as progress:
        return run_fix(config.settings, config.paths, apply=args.apply, write=sys.stdout.write,
                       say=lambda text: sys.stderr.write(text + "\n"), progress=progress.update)
