"""Reports of ``hdrtest diff``: what a change broke or fixed, as the kernel's build robot mails it.

``diffmode`` computes the comparison; this module only shows it: text with ``>>`` on the
errors the change brought, and the reproduce steps in the user's own checkout (its JSON is ``serialize``'s).
"""

from __future__ import annotations

from ..diagnostics import render_gcc_style
from ..diffmode import DiffResult, moved_back, user_command
from ..models import Diagnostic, Result
from ..toolchain import probe
from .lines import note_lines, reproducer


def short_commit(commit: str | None) -> str:
    return commit[:12] if commit else "uncommitted"


def steps(diff: DiffResult, result: Result) -> list[str]:
    """Steps that rebuild the failing compile in the user's own checkout."""
    if diff.head_commit is None or diff.head_tree is None:
        return reproducer(result)
    return reproducer(result, checkout=diff.head_rev or diff.head_commit,
                      directory=moved_back(str(result.job.directory), diff.head_tree, diff.toplevel),
                      command=user_command(result.command, diff.head_tree, diff.toplevel))


def _compiler(diff: DiffResult) -> str:
    results = diff.head.results or diff.base.results
    if not results:
        return "none run"
    job = results[0].job
    try:
        return probe(job.compiler, job.directory).version
    except Exception:  # noqa: BLE001 - the header block is informational
        return job.compiler


def _error_lines(result: Result, new: list[Diagnostic]) -> list[str]:
    new_ids = {id(d) for d in new}
    lines: list[str] = []
    for diag in result.diagnostics:
        rendered = render_gcc_style(diag)
        if not diag.is_error:
            lines.extend("   " + line for line in rendered)
            continue
        located = len(rendered) - 1 - len(diag.children)  # the diagnostic's own line, after its include chain
        for index, line in enumerate(rendered):
            marker = ">> " if index == located and id(diag) in new_ids else "   "
            lines.append(marker + line)
        lines.extend("   " + line for line in note_lines(diag))
    return lines


def _new_lines(diff: DiffResult) -> list[str]:
    lines = ["All errors (new ones prefixed by >>):", ""]
    for change in diff.new:
        job = change.result.job
        lines.append(f"   {job.display} [{job.language}] in {job.variant.describe()}:")
        lines.extend(_error_lines(change.result, change.errors))
        lines.extend(["", "reproduce:"])
        lines.extend("        " + step for step in steps(diff, change.result))
        lines.append("")
    return lines


def _fixed_lines(diff: DiffResult) -> list[str]:
    lines = ["Fixed by the change:", ""]
    for change in diff.fixed:
        job = change.result.job
        state = "now compiles alone" if change.now_passes else "still fails, with other errors"
        lines.append(f"   {job.display} [{job.language}] in {job.variant.describe()}: {state}")
        lines.extend("   -" + render_gcc_style(diag, chain=False)[0] for diag in change.errors)
        lines.append("")
    return lines


def render_text(diff: DiffResult) -> str:
    verdict = "ERROR" if diff.new else "OK"
    head = diff.head_rev or "the working tree"
    skipped = len(diff.head.skipped)
    lines = [f"[auto build test {verdict} on {diff.base_rev}]", "",
             f"tree:     {diff.toplevel}",
             f"base:     {diff.base_rev} ({short_commit(diff.base_commit)})",
             f"head:     {head} ({short_commit(diff.head_commit)})",
             f"compiler: {_compiler(diff)}",
             f"headers:  {len(diff.headers)} affected by {len(diff.changed_files)} changed file(s), "
             f"{diff.head.headers_checked} checked" + (f", {skipped} skipped" if skipped else ""), ""]
    if diff.new:
        lines.extend(_new_lines(diff))
    if diff.fixed:
        lines.extend(_fixed_lines(diff))
    new_errors = sum(len(c.errors) for c in diff.new)
    fixed_errors = sum(len(c.errors) for c in diff.fixed)
    lines.append(f"hdrtest diff: {new_errors} new error(s) in {len(diff.new)} header check(s), {fixed_errors} "
                 f"fixed in {len(diff.fixed)}, {diff.still_failing} failing as before (not shown)")
    return "\n".join(lines) + "\n"
