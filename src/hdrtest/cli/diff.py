"""``hdrtest diff``: the headers a git change affects, checked before and after it."""

from __future__ import annotations

import argparse
import os

from .. import diffmode
from ..errors import EXIT_CLEAN, EXIT_FAILURES
from ..graph import vcs
from ..progress import Progress
from ..report import registry
from ..report.context import ReportContext
from .options import TEXT_OR_JSON, extra_reports, own_output, run_config
from .output import write_report


def cmd_diff(args: argparse.Namespace) -> int:
    main = own_output(args, "hdrtest diff", TEXT_OR_JSON, hint="other formats of the HEAD check: --report FORMAT=FILE",
                      no_baseline="compares with BASE")
    config = run_config(args, [main, *extra_reports(args)])
    settings, head, paths = config.settings, args.head, config.paths
    if head is not None and os.path.exists(head) and \
            vcs.commit_of(diffmode.toplevel(settings.root), head) is None:
        paths.insert(0, head)  # as with git diff: a HEAD that is no revision but a path is a path
        head = None
    with Progress(quiet=config.quiet) as progress:
        result = diffmode.run_diff(settings, args.base, head, paths=paths, progress=progress.update)
    # Text and JSON are the comparison; the other formats show HEAD's check with BASE as its baseline.
    context = ReportContext(result.head, diff=result)
    for out in config.outputs:
        write_report(registry.render(context, out.format.value), out.destination)
    return EXIT_FAILURES if result.has_new_failures else EXIT_CLEAN
