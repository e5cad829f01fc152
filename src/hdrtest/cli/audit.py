"""``hdrtest audit``: latent configuration breakages of a whole tree, ranked by root cause."""

from __future__ import annotations

import argparse

from .. import audit as audits
from ..check import check
from ..errors import EXIT_CLEAN, EXIT_FAILURES
from ..progress import Progress
from ..store.commands import command_cache
from .options import TEXT_OR_JSON, ReportFormat, extra_reports, own_output, run_config
from .output import write_report


def cmd_audit(args: argparse.Namespace) -> int:
    main = own_output(args, "audit", TEXT_OR_JSON, hint="use hdrtest check for the other formats")
    # --report FORMAT=FILE is checked like check's, before any work: a report asked for is written or refused.
    config = run_config(args, [main, *extra_reports(args, allowed=TEXT_OR_JSON)])
    with command_cache(config.settings) as cache, Progress(quiet=config.quiet) as progress:
        # Default variants (the fragile options of every closure included), no explanations: the root causes
        # are the report.
        report = check(config.settings, config.paths, cache=cache, progress=progress.update, explain=False)
    for output in config.outputs:
        write_report(audits.render_json(report) if output.format is ReportFormat.JSON else audits.render_text(report),
                     output.destination)
    return EXIT_FAILURES if report.root_causes or report.failures else EXIT_CLEAN
