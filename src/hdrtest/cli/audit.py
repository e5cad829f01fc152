"""``hdrtest audit``: latent configuration breakages of a whole tree, ranked by root cause."""

from __future__ import annotations

import argparse

from .. import audit as audits
from ..check import check
from ..errors import EXIT_CLEAN, EXIT_FAILURES, UsageError
from ..progress import Progress
from ..store.commands import command_cache
from .options import Output, ReportFormat, run_config, settings_from_args
from .output import write_report

AUDIT_FORMATS = (ReportFormat.TEXT.value, ReportFormat.JSON.value)


def cmd_audit(args: argparse.Namespace) -> int:
    if args.format not in AUDIT_FORMATS:
        raise UsageError(f"audit writes text or json, not '{args.format}'", path="--format",
                         hint="use hdrtest check for the other formats")
    main = Output(ReportFormat(args.format), args.output)
    config = run_config(args, settings_from_args(args), [main])
    with command_cache(config.settings) as cache, Progress(quiet=config.quiet) as progress:
        # Default variants (the fragile options of every closure included), no explanations: the root causes
        # are the report.
        report = check(config.settings, config.paths, cache=cache, progress=progress.update, explain=False)
    write_report(audits.render_json(report) if main.format is ReportFormat.JSON else audits.render_text(report),
                 main.destination)
    return EXIT_FAILURES if report.root_causes or report.failures else EXIT_CLEAN
