"""``hdrtest check``: compile each header alone, write the reports, compare with a baseline file."""

from __future__ import annotations

import argparse
import sys

from .. import baseline as baselines
from .. import check as checking
from ..errors import EXIT_CLEAN, EXIT_FAILURES
from ..fix import suggest
from ..models import CheckReport
from ..progress import Progress
from ..report import registry
from ..report.context import ReportContext
from ..report.text import summary_line
from ..store.commands import command_cache
from .options import Output, ReportFormat, extra_reports, report_format, run_config
from .output import write_report


def _exit_code(report: CheckReport, known: baselines.Baseline | None, wrote_baseline: bool) -> int:
    if wrote_baseline and known is None:
        return EXIT_CLEAN  # every failure of this run is in the baseline just written
    failing = baselines.new_failures(report, known) if known is not None else report.failures
    return EXIT_FAILURES if failing else EXIT_CLEAN


def cmd_check(args: argparse.Namespace) -> int:
    config = run_config(args, [Output(report_format(args.format), args.output), *extra_reports(args)])
    settings = config.settings
    known = baselines.load(args.baseline) if args.baseline else None  # a bad file fails before any compile
    with command_cache(settings) as cache, Progress(quiet=config.quiet) as progress:
        # Looked up at call time through the module, so a test can stand in for the library's check.
        report = checking.check(settings, config.paths, progress=progress.update, explain=not args.fix, cache=cache)
    fix_diff = suggest(report, settings) if args.fix else None
    context = ReportContext(report, baseline=known)
    for out in config.outputs:
        write_report(registry.render(context, out.format.value), out.destination)
    main = config.main_output
    to_stdout = main.destination in (None, "-")
    if fix_diff:
        (sys.stdout if main.format is ReportFormat.TEXT and to_stdout else sys.stderr).write(fix_diff)
    if main.format is not ReportFormat.TEXT and main.destination and not config.quiet:
        sys.stderr.write(summary_line(report) + "\n")
    if args.write_baseline:
        baselines.write(report, args.write_baseline)
    return _exit_code(report, known, bool(args.write_baseline))
