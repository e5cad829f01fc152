"""``hdrtest cache``: show, clear or shrink the result cache."""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import EXIT_CLEAN
from ..settings import load_settings
from ..store.commands import cache_command


def cmd_cache(args: argparse.Namespace) -> int:
    settings = load_settings([], {"cache_dir": os.path.abspath(args.cache_dir) if args.cache_dir else None})
    sys.stdout.write(cache_command(args.action, settings, max_size=args.max_size, as_json=args.json))
    return EXIT_CLEAN
