"""What every report format shows the same way: a diagnostic's notes, the reproducer, why a result is not verified.

Each is written here once; a format only lays the lines out (indented text, an HTML
panel, a SARIF markdown block, the build robot's mail of ``hdrtest diff``).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..diagnostics import place
from ..models import Diagnostic, Note, Result
from ..names import shell_join, shell_quote


def note_place(note: Note, diag: Diagnostic) -> str:
    """Where a note is, gcc's way (the diagnostic's file when the note names none)."""
    return place(note.file or diag.file, note.line, note.column)


def note_lines(diag: Diagnostic) -> list[str]:
    """The diagnostic's notes as gcc prints notes, each suggested edit indented under its note."""
    lines = []
    for note in diag.notes:
        lines.append(f"{note_place(note, diag)}: note: {note.message}")
        if note.fix_diff:
            lines.extend("    " + line for line in note.fix_diff.rstrip("\n").splitlines())
    return lines


def reproducer(result: Result, *, checkout: str | None = None, directory: str | None = None,
               command: Sequence[str] | None = None) -> list[str]:
    """Shell steps that rerun the compile: the command, then the variant's forced header and ``.config`` lines.

    ``checkout``, ``directory``, ``command``: the revision to check out first and the compile
    as it reads in the user's checkout (``hdrtest diff`` compiled in a private worktree).
    """
    job = result.job
    steps = [f"git checkout {shell_quote(checkout)}"] if checkout is not None else []
    steps.append(f"cd {shell_quote(directory or str(job.directory))} && "
                 f"{shell_join(result.command if command is None else command)}")
    if job.variant.defines:
        steps.append("# with the forced variant header holding: " + "; ".join(
            f"#undef {name}" + (f" #define {name} {value}" if value is not None else "")
            for name, value in job.variant.defines))
    if job.variant.config_lines:
        steps.append("# or set in .config: " + "; ".join(job.variant.config_lines))
    return steps


def unverified_reason(result: Result) -> str:
    """Why hdrtest could not establish a verdict (its ``not-verified`` diagnostics)."""
    return "; ".join(d.message for d in result.diagnostics if d.category == "not-verified") or "no reason recorded"
