"""``hdrtest series`` and ``hdrtest bisect``: a patch series commit by commit, and the first bad commit."""

from __future__ import annotations

import argparse
import os

from ..bisect import run_bisect
from ..errors import EXIT_CLEAN, EXIT_FAILURES, UsageError
from ..progress import Progress
from ..report import series as series_report
from ..series import run_series
from ..store.commands import command_cache
from .options import Output, ReportFormat, extra_reports, own_output, run_config
from .output import write_report


def series_range(args: argparse.Namespace) -> tuple[str, str]:
    """BASE and HEAD: the argument, else what pre-commit's pre-push hook passes, else the upstream's new commits."""
    if args.range:
        base, sep, head = args.range.partition("..")
        if not sep:
            return args.range, "HEAD"
        return base or "HEAD", head or "HEAD"
    pushed = os.environ.get("PRE_COMMIT_FROM_REF"), os.environ.get("PRE_COMMIT_TO_REF")
    if pushed[0] and pushed[1] and set(pushed[0]) != {"0"}:  # all zeros: a new branch, nothing to compare with
        return pushed[0], pushed[1]
    return "@{upstream}", "HEAD"


def cmd_series(args: argparse.Namespace) -> int:
    main = own_output(args, "hdrtest series", series_report.FORMATS, no_baseline="compares each commit with its parent")
    config = run_config(args, [main, *extra_reports(args, allowed=series_report.FORMATS)])
    base, head = series_range(args)
    with command_cache(config.settings) as cache, Progress(quiet=config.quiet) as progress:
        found = run_series(config.settings, base, head, paths=config.paths, cache=cache, progress=progress.update)
    for out in config.outputs:
        write_report(series_report.FORMATS[out.format.value](found), out.destination)
    return EXIT_CLEAN if found.bisectable else EXIT_FAILURES


def cmd_bisect(args: argparse.Namespace) -> int:
    if args.paths:
        raise UsageError("hdrtest bisect takes one header", path=args.paths[0], hint="GOOD BAD HEADER")
    # The bisect answer is one text block whatever --format says.
    config = run_config(args, [Output(ReportFormat.TEXT, args.output)])
    with command_cache(config.settings) as cache:
        found = run_bisect(config.settings, args.good, args.bad, args.header, variant=args.variant, cache=cache)
    write_report(series_report.render_bisect(found), config.main_output.destination)
    return EXIT_CLEAN
