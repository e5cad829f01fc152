"""Where a name is defined, and why this compile does not see it: under a false guard, in a header
it does not include, in a standard header, only forward-declared, or nowhere."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..analysis.sat import always_one_of
from ..fixes import Edit, inside
from ..models import Diagnosis, Diagnostic
from ..models import DiagnosisKind as K
from ..scan.cindex import Definition
from ..scan.formula import TRUE, evaluate, to_c
from .config import Values
from .context import (
    Context,
    Explained,
    diagnosis_for,
    norm_path,
    shown_in,
    tree_edit,
)
from .guards import hiding_guard
from .includes import include_line, include_spelling, sibling_spellings, standard_header, through_habits
from .stubs import stub_blockers, stub_for


def explain_conditional(diag: Diagnostic, target: str | None, definition: Definition, ctx: Context) -> Explained:
    """Case (a): defined, but only under a condition that is false here."""
    root = ctx.root
    site = hiding_guard(ctx.files.scan(str(definition.file)), definition.line, ctx.values)
    stub = stub_for(definition, ctx.files)
    blockers = stub_blockers(stub, definition, site, ctx) if stub is not None and site is not None else []
    refused, stub = (stub, None) if blockers else (None, stub)
    editable = inside(Path(norm_path(definition.file)), root)
    edit = tree_edit(ctx, Edit(Path(norm_path(definition.file)), site.insert_line, (stub,),
                               group=f"stub@{site.first_line}", prefix=("#else",) if site.needs_else else ())) \
        if site is not None and stub is not None else None
    header = None if norm_path(definition.file) in ctx.closure else shown_in(ctx.result.job.header, root)
    found = diagnosis_for(K.CONDITIONAL, diag, definition, ctx, target=target, header=header,
                          stub=stub if edit is not None else None, edit_line=edit.line if edit is not None else None,
                          block=(site.first_line, site.endif_line) if site is not None else None,
                          block_guard=to_c(site.block.formula) if site is not None else None,
                          needs_else=site is not None and site.needs_else, refused_stub=refused,
                          blockers=tuple(blockers), outside=not editable)
    return Explained(found, [edit] if edit is not None else [])


def explain_elsewhere(diag: Diagnostic, target: str | None, candidates: list[Definition],
                      ctx: Context) -> Explained:
    """Case (b): defined unconditionally in a header this one does not include."""
    user = Path(diag.abs_file or norm_path(ctx.root / diag.file))
    habits = sibling_spellings(user, ctx.files)
    scored: list[tuple[tuple[int, int, int], str, Definition]] = []
    for definition in candidates:
        spelled = include_spelling(Path(str(definition.file)), user, ctx.search)
        if spelled is None:
            continue
        # The tree's habit first, then the header nearest to the user, then the shortest spelling.
        near = len(os.path.commonpath([norm_path(definition.file), str(user)]))
        scored.append(((-habits.get(spelled, 0), -near, len(spelled)), spelled, definition))
    if not scored:  # no include path of this compile reaches it
        return Explained(diagnosis_for(K.NOT_INCLUDED, diag, candidates[0], ctx, target=target))
    _, spelled, definition = min(scored, key=lambda item: item[0])
    kind, neighbours = K.NOT_INCLUDED, 0
    standard = standard_header(candidates[0].name, {d.kind for d in candidates}, user, ctx)
    if standard is not None:
        # size_t is <stddef.h>'s, whatever other libraries on the include path typedef it too.
        (spelled, definition), kind = standard, K.STANDARD_HEADER
    # Files next to this one reach it through a header of their own (<linux/types.h>, not
    # <asm-generic/int-ll64.h>): that header is the one to include.
    via = through_habits(candidates, habits, user, ctx, at_least=habits.get(spelled, 0) + 1)
    if via is not None:
        spelled, definition, neighbours = via
        kind = K.NOT_INCLUDED
    return _include(kind, diag, target, definition, spelled, user, ctx, total=len(candidates), neighbours=neighbours)


def _include(kind: K, diag: Diagnostic, target: str | None, definition: Definition, spelled: str, user: Path,
             ctx: Context, **fields: Any) -> Explained:
    """``definition``, which ``user`` reaches by including ``spelled``: the record, and the edit when
    ``user`` is a file of the tree."""
    edit = tree_edit(ctx, Edit(user, include_line(user, ctx.files), (f"#include {spelled}",), group="include"))
    return Explained(diagnosis_for(kind, diag, definition, ctx, target=target, include=spelled,
                                   header=shown_in(user, ctx.root), edit_line=edit.line if edit is not None else None,
                                   **fields), [edit] if edit is not None else [])


def explain_standard(diag: Diagnostic, target: str | None, query: tuple[str, Sequence[str]],
                     definitions: Sequence[Definition], ctx: Context) -> Explained | None:
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
    return _include(K.STANDARD_HEADER, diag, target, definition, spelled, user, ctx,
                    partly_read=norm_path(definition.file) in ctx.closure)


def unconditional_files(definitions: list[Definition], values: Values) -> list[Definition]:
    """``definitions`` with each file whose branches together cover every configuration replaced by one
    unconditional definition (the branch taken here when known, else the first)."""
    by_file: dict[str, list[Definition]] = {}
    for definition in definitions:
        by_file.setdefault(norm_path(definition.file), []).append(definition)
    out: list[Definition] = []
    for group in by_file.values():
        conditions = [d.condition for d in group]
        if len(group) < 2 or TRUE in conditions or always_one_of(conditions) is not True:
            out.extend(group)
            continue
        taken = [d for d in group if evaluate(d.condition, values) is True] or group
        out.append(dataclasses.replace(taken[0], complete=True, condition=TRUE))
    return out


def explain_definitions(diag: Diagnostic, target: str | None, definitions: list[Definition],
                        needs_complete: bool, ctx: Context, *, query: tuple[str, Sequence[str]]) -> Explained:
    """The decision between the four cases, given what the index knows (``target``: the type a typedef
    that ``diag`` names stands for, which ``definitions`` define).

    ``query``: the name and kinds looked up, so that a name of the C library or the
    compiler's headers gets its standard include even when the index has no (or only a
    hidden) definition of it.
    """
    standard = explain_standard(diag, target, query, definitions, ctx)
    if standard is not None:
        return standard
    complete = unconditional_files([d for d in definitions if d.complete or not needs_complete], ctx.values)
    forwards = [d for d in definitions if needs_complete and not d.complete]
    seen_forwards = [d for d in forwards if norm_path(d.file) in ctx.closure]
    ctx.read.update(norm_path(d.file) for d in definitions)
    disabled = [d for d in complete if ctx.value(d.condition) is False]
    enabled = [d for d in complete if ctx.value(d.condition) is True]
    unknown = [d for d in complete if ctx.value(d.condition) is None]
    in_closure = [d for d in enabled if norm_path(d.file) in ctx.closure]
    elsewhere = [d for d in enabled if norm_path(d.file) not in ctx.closure]
    forward = None
    if seen_forwards and complete:
        complete_at = (disabled or elsewhere or in_closure or unknown)[0]
        forward = diagnosis_for(K.FORWARD_ONLY, diag, seen_forwards[0], ctx, target=target,
                                places=((shown_in(complete_at.file, ctx.root), complete_at.line),))
    # A guard in a file this compile reads is the cause.  One in a file it does not read
    # (the user-space branch of some unrelated header) is not, when an unconditional
    # definition exists elsewhere: that one is the header to include.
    guarded_here = any(norm_path(d.file) in ctx.closure for d in disabled)
    # A definition this compile reads under a condition we cannot evaluate may be the one
    # it sees: then a false guard elsewhere is not established as the cause.
    unknown_here = [d for d in unknown if norm_path(d.file) in ctx.closure]
    if disabled and not in_closure and not unknown_here and (guarded_here or not elsewhere):
        disabled.sort(key=lambda d: (norm_path(d.file) not in ctx.closure, len(to_c(d.condition))))
        found = explain_conditional(diag, target, disabled[0], ctx)
        also = explain_elsewhere(diag, target, elsewhere, ctx) if elsewhere else None
        return _with_related(found, forward, also)
    if elsewhere and not in_closure:
        return _with_related(explain_elsewhere(diag, target, elsewhere, ctx), forward)
    if in_closure:
        user = diag.abs_file and norm_path(diag.abs_file)
        after = user == norm_path(in_closure[0].file) and in_closure[0].line > diag.line
        record = diagnosis_for(K.DEFINED_AFTER_USE if after else K.DEFINED_HERE, diag, in_closure[0], ctx,
                               target=target)
    elif unknown:
        record = diagnosis_for(K.UNKNOWN_CONDITION, diag, (unknown_here or unknown)[0], ctx, target=target)
    else:
        # "Only forward-declared" and "nowhere" rest on what the include directories lack: a new file changes that.
        ctx.cacheable = False
        record = diagnosis_for(K.FORWARD_ONLY if forwards else K.NOWHERE, diag,
                               (seen_forwards or forwards)[0] if forwards else None, ctx, target=target,
                               total=ctx.index.files)
    return _with_related(Explained(record), forward)


def _with_related(found: Explained, forward: Diagnosis | None, also: Explained | None = None) -> Explained:
    """``found`` with the forward declaration and the unconditional definition elsewhere, when they are part of
    the story; the edits of ``also`` are only shown."""
    assert found.diagnosis is not None
    record = dataclasses.replace(found.diagnosis, forward=forward, also=also.diagnosis if also else None)
    return Explained(record, found.edits, also.edits if also is not None else [])
