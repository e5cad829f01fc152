"""Where a name is defined, and why this compile does not see it: under a false guard, in a header
it does not include, in a standard header, only forward-declared, or nowhere."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..fixes import inside, render_diff
from ..models import DiagnosisKind as K
from ..models import Diagnostic, Note
from ..scan.conditions import TRUE, Formula, always_one_of, evaluate, to_c
from .config import Values
from .context import (
    Context,
    DefinitionLike,
    Explained,
    diagnosis_for,
    indexed_count,
    norm_path,
    shown_in,
    tree_edit,
    where_of,
)
from .guards import guard_directive, hiding_guard, why_false
from .includes import add_include, include_spelling, sibling_spellings, standard_header, through_habits
from .stubs import stub_blockers, stub_for


def explain_conditional(diag: Diagnostic, label: str, definition: DefinitionLike, ctx: Context) -> Explained:
    """Case (a): defined, but only under a condition that is false here."""
    out = Explained()
    root = ctx.root
    reasons = why_false(definition.condition, ctx.values)
    where = where_of(definition, root)
    message = f"{label} is defined at {where} only when {to_c(definition.condition)}"
    if reasons:
        message += "; in this configuration " + ", ".join(reasons)
    if norm_path(definition.file) not in ctx.closure:
        message += f" (and {shown_in(ctx.result.job.header, root)} does not include {shown_in(definition.file, root)})"
    out.notes.append(Note(message, file=shown_in(definition.file, root), line=definition.line, kind="definition"))
    site = hiding_guard(ctx.files.scan(str(definition.file)), definition.line, ctx.values)
    stub = stub_for(definition, ctx.files)
    shown_file = shown_in(definition.file, root)
    number = 1
    blockers = stub_blockers(stub, definition, site, ctx) if stub is not None and site is not None else []
    if blockers:
        out.notes.append(Note(f"no stub for {label} is offered: {stub} uses {', '.join(blockers)}, which exist(s) "
                              "only where the guard holds", file=shown_file, line=definition.line, kind="fix"))
        stub = None
    editable = inside(Path(norm_path(definition.file)), root)
    if not editable:
        out.notes.append(Note(f"{shown_file} is outside the checked tree: hdrtest suggests no edit of it",
                              file=shown_file, line=definition.line, kind="fix"))
        stub = None
    edit = tree_edit(ctx, file=Path(norm_path(definition.file)), line=site.insert_line, lines=(stub,),
                     group=f"stub@{site.first_line}", prefix=("#else",) if site.needs_else else (),
                     description=f"stub for {label}") if site is not None and stub is not None else None
    if site is not None and edit is not None:
        out.edits.append(edit)
        branch = "a new #else" if site.needs_else else "the branch taken here"
        out.notes.append(Note(f"fix {number}: add a stub to {branch} of the conditional at "
                              f"{shown_file}:{site.first_line}-{site.endif_line}: {stub}",
                              file=shown_file, line=site.insert_line, kind="fix",
                              fix_diff=render_diff([edit], root)))
        number += 1
    if site is not None:
        block_text = f"the {guard_directive(site.block.formula)} block ({shown_file}:{site.first_line})"
    else:
        block_text = f"its {guard_directive(definition.condition)} block"
    if editable:
        out.notes.append(Note(f"fix {number}: move {label} out of {block_text}, so that every configuration has "
                              "it", file=shown_file, line=definition.line, kind="fix"))
        number += 1
    out.notes.append(Note(f"fix {number}: {'or ' if number > 1 else ''}guard the use at {diag.file}:{diag.line} "
                          f"with {guard_directive(definition.condition)}", file=diag.file, line=diag.line, kind="fix"))
    out.diagnosis = diagnosis_for(K.CONDITIONAL, diag, definition, ctx, stub=stub if edit is not None else None)
    return out


def explain_elsewhere(diag: Diagnostic, label: str, candidates: list[DefinitionLike], ctx: Context) -> Explained:
    """Case (b): defined unconditionally in a header this one does not include."""
    out = Explained()
    user = Path(diag.abs_file or norm_path(ctx.root / diag.file))
    habits = sibling_spellings(user, ctx.files)
    scored: list[tuple[tuple[int, int, int], str, DefinitionLike]] = []
    for definition in candidates:
        spelled = include_spelling(Path(str(definition.file)), user, ctx.search)
        if spelled is None:
            continue
        # The tree's habit first, then the header nearest to the user, then the shortest spelling.
        near = len(os.path.commonpath([norm_path(definition.file), str(user)]))
        scored.append(((-habits.get(spelled, 0), -near, len(spelled)), spelled, definition))
    if not scored:
        definition = candidates[0]
        out.notes.append(Note(f"{label} is defined at {where_of(definition, ctx.root)}, which no include path of this "
                              "compile reaches", file=shown_in(definition.file, ctx.root), line=definition.line,
                              kind="definition"))
        out.diagnosis = diagnosis_for(K.NOT_INCLUDED, diag, definition, ctx)
        return out
    scored.sort(key=lambda item: item[0])
    _, spelled, definition = scored[0]
    others = f" (also at {len(candidates) - 1} other place(s))" if len(candidates) > 1 else ""
    message = f"{label} is defined at {where_of(definition, ctx.root)}{others}, which {shown_in(user, ctx.root)} " \
              "does not include"
    standard = standard_header(candidates[0].name, {d.kind for d in candidates}, user, ctx)
    if standard is not None:
        # size_t is <stddef.h>'s, whatever other libraries on the include path typedef it too.
        spelled, definition = standard
        message = f"{label} comes from the standard header {spelled} ({where_of(definition, ctx.root)}), which " \
                  f"{shown_in(user, ctx.root)} does not include"
    # Files next to this one reach it through a header of their own (<linux/types.h>, not
    # <asm-generic/int-ll64.h>): that header is the one to include.
    via = through_habits(candidates, habits, user, ctx, at_least=habits.get(spelled, 0) + 1)
    if via is not None:
        spelled, definition, count = via
        message = f"{label} is defined at {where_of(definition, ctx.root)}{others}, which {shown_in(user, ctx.root)} " \
                  f"does not include; {spelled}, included by {count} file(s) next to it, brings it in"
    out.notes.append(Note(message, file=shown_in(definition.file, ctx.root), line=definition.line,
                          kind="definition"))
    out.diagnosis = diagnosis_for(K.STANDARD_HEADER if standard is not None and via is None else K.NOT_INCLUDED, diag,
                                  definition, ctx, include=spelled)
    add_include(out, spelled, label, user, ctx)
    return out


def explain_standard(diag: Diagnostic, label: str, query: tuple[str, Sequence[str]],
                     definitions: Sequence[DefinitionLike], ctx: Context) -> Explained | None:
    """A name a standard header provides (``size_t``, ``FILE``), when the compile does not see it and the
    tree does not hide a definition of its own: include that header.  None when another case applies."""
    seen_here = [d for d in definitions if norm_path(d.file) in ctx.closure and d.complete
                 and ctx.value(d.condition) is not False]
    in_tree = [d for d in definitions if inside(Path(norm_path(d.file)), ctx.root)]
    if seen_here or in_tree or ctx.unknown_reason is not None:
        return None  # the tree's own definitions decide (``explain_elsewhere`` still prefers a standard header)
    user = Path(diag.abs_file or norm_path(ctx.root / diag.file))
    found = standard_header(query[0], set(query[1]), user, ctx)
    if found is None:
        return None
    spelled, definition = found
    # gcc's <stddef.h> read with __need_NULL only is in the closure, its size_t branch not taken.
    how = "reads without it (only some of its branches were taken)" if norm_path(definition.file) in ctx.closure \
        else "does not include"
    out = Explained([Note(f"{label} comes from the standard header {spelled} ({where_of(definition, ctx.root)}), "
                          f"which {shown_in(user, ctx.root)} {how}", file=shown_in(definition.file, ctx.root),
                          line=definition.line, kind="definition")])
    out.diagnosis = diagnosis_for(K.STANDARD_HEADER, diag, definition, ctx, include=spelled)
    add_include(out, spelled, label, user, ctx)
    return out


@dataclass(frozen=True)
class Everywhere:
    """A file's definition of a name that some branch of it provides in every configuration
    (``#ifdef A / #elif F(4) / #else``): one definition, with no condition."""

    name: str
    file: str | Path
    line: int
    kind: str
    complete: bool = True
    condition: Formula = TRUE


def unconditional_files(definitions: list[DefinitionLike], values: Values) -> list[DefinitionLike]:
    """``definitions`` with each file whose branches together cover every configuration replaced by one
    unconditional definition (the branch taken here when known, else the first)."""
    by_file: dict[str, list[DefinitionLike]] = {}
    for definition in definitions:
        by_file.setdefault(norm_path(definition.file), []).append(definition)
    out: list[DefinitionLike] = []
    for group in by_file.values():
        conditions = [d.condition for d in group]
        if len(group) < 2 or TRUE in conditions or always_one_of(conditions) is not True:
            out.extend(group)
            continue
        taken = [d for d in group if evaluate(d.condition, values) is True] or group
        first = taken[0]
        out.append(Everywhere(first.name, first.file, first.line, first.kind))
    return out


def explain_definitions(diag: Diagnostic, label: str, definitions: list[DefinitionLike], needs_complete: bool,
                        ctx: Context, *, query: tuple[str, Sequence[str]] | None = None) -> Explained:
    """The decision between the four cases, given what the index knows.

    ``query``: the name and kinds looked up, so that a name of the C library or the
    compiler's headers gets its standard include even when the index has no (or only a
    hidden) definition of it.
    """
    if query is not None:
        standard = explain_standard(diag, label, query, definitions, ctx)
        if standard is not None:
            return standard
    out = Explained()
    complete = unconditional_files([d for d in definitions if d.complete or not needs_complete], ctx.values)
    forwards = [d for d in definitions if needs_complete and not d.complete]
    seen_forwards = [d for d in forwards if norm_path(d.file) in ctx.closure]
    ctx.read.update(norm_path(d.file) for d in definitions)
    disabled = [d for d in complete if ctx.value(d.condition) is False]
    enabled = [d for d in complete if ctx.value(d.condition) is True]
    unknown = [d for d in complete if ctx.value(d.condition) is None]
    in_closure = [d for d in enabled if norm_path(d.file) in ctx.closure]
    elsewhere = [d for d in enabled if norm_path(d.file) not in ctx.closure]
    if seen_forwards and complete:
        where = where_of(seen_forwards[0], ctx.root)
        target = (disabled or elsewhere or in_closure or unknown)[0]
        out.notes.append(Note(f"{label} is only forward-declared where a complete type is needed ({where}); its "
                              f"complete definition is at {where_of(target, ctx.root)}",
                              file=shown_in(seen_forwards[0].file, ctx.root), line=seen_forwards[0].line,
                              kind="definition"))
    # A guard in a file this compile reads is the cause.  One in a file it does not read
    # (the user-space branch of some unrelated header) is not, when an unconditional
    # definition exists elsewhere: that one is the header to include.
    guarded_here = any(norm_path(d.file) in ctx.closure for d in disabled)
    # A definition this compile reads under a condition we cannot evaluate may be the one
    # it sees: then a false guard elsewhere is not established as the cause.
    unknown_here = [d for d in unknown if norm_path(d.file) in ctx.closure]
    if disabled and not in_closure and not unknown_here and (guarded_here or not elsewhere):
        disabled.sort(key=lambda d: (norm_path(d.file) not in ctx.closure, len(to_c(d.condition))))
        found = explain_conditional(diag, label, disabled[0], ctx)
        out.notes += found.notes
        out.edits += found.edits
        out.diagnosis = found.diagnosis
        if elsewhere:
            more = explain_elsewhere(diag, label, elsewhere, ctx)
            out.notes += [Note("it is also defined unconditionally: " + n.message, n.file, n.line, n.column,
                               n.kind, n.fix_diff) for n in more.notes]
        return out
    if elsewhere and not in_closure:
        found = explain_elsewhere(diag, label, elsewhere, ctx)
        out.notes += found.notes
        out.edits += found.edits
        out.diagnosis = found.diagnosis
        return out
    if in_closure:
        definition = in_closure[0]
        user = diag.abs_file and norm_path(diag.abs_file)
        if user == norm_path(definition.file) and definition.line > diag.line:
            message = f"{label} is defined at {where_of(definition, ctx.root)}, after its use at line {diag.line}"
        else:
            message = f"{label} is defined at {where_of(definition, ctx.root)}, which this compile reads"
            if definition.condition != TRUE:
                message += f" (when {to_c(definition.condition)}, which holds here)"
        out.notes.append(Note(message, file=shown_in(definition.file, ctx.root), line=definition.line,
                              kind="definition"))
        out.diagnosis = diagnosis_for(K.DEFINED_HERE, diag, definition, ctx)
        return out
    if unknown:
        definition = (unknown_here or unknown)[0]
        out.notes.append(Note(f"{label} is defined at {where_of(definition, ctx.root)} only when "
                              f"{to_c(definition.condition)}, whose value here is unknown (not verified: "
                              f"{ctx.unknown_reason or 'hdrtest cannot evaluate that condition'})",
                              file=shown_in(definition.file, ctx.root), line=definition.line, kind="definition"))
        out.diagnosis = diagnosis_for(K.UNKNOWN_CONDITION, diag, definition, ctx)
        return out
    # "Only forward-declared" and "nowhere" rest on what the include directories lack: a new file changes that.
    ctx.cacheable = False
    if forwards:
        definition = (seen_forwards or forwards)[0]
        out.notes.append(Note(f"{label} is only forward-declared ({where_of(definition, ctx.root)}); no complete "
                              f"definition exists in the {indexed_count(ctx)} indexed file(s)",
                              file=shown_in(definition.file, ctx.root), line=definition.line, kind="definition"))
        out.diagnosis = diagnosis_for(K.FORWARD_ONLY, diag, definition, ctx)
        return out
    out.diagnosis = diagnosis_for(K.NOWHERE, diag, None, ctx)
    out.notes.append(Note(f"{label} is defined nowhere in the {indexed_count(ctx)} indexed file(s) (the header's "
                          "includes and the include directories of its flags)", kind="definition"))
    return out
