"""Explaining failures: where the missing thing is, under which condition, and the fix.

For each classified error the name is looked up in the symbol index (built lazily,
only when something failed, over the failing headers' include closures and the
include directories of their flags).  The configuration's macro values come from
one ``cc -dM -E`` per flag set, so that a definition's presence condition can be
evaluated the way the compiler saw it.  The outcome is a list of gcc-style notes on
the diagnostic, and ``fix.Edit`` records for ``hdrtest fix``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from . import classify as cls
from .fix import Edit, declaration_text, function_stub, inside, macro_stub, render_diff, shown_path, \
    split_function, struct_stub
from .models import EXPLANATION_NOTE_KINDS, CheckReport, Diagnosis, Diagnostic, Job, Note, Result
from .toolchain.run import run
from .scan.conditions import TRUE, And, Atom, Const, Defined, Formula, Not, OptionFilter, Or, always_one_of, \
    evaluate, macros, to_c
from .changes import GraphStore
from .executors.local import default_jobs
from .scan.directives import CondBlock, FileScan, scan_directives
from .scan.includes import SearchPath
from .settings import Settings

Values = dict[str, "str | None"]


class DefinitionLike(Protocol):
    """What explanation reads from a symbol index entry (``scan.symbols.Definition``)."""

    @property
    def name(self) -> str: ...
    @property
    def file(self) -> str | Path: ...
    @property
    def line(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def complete(self) -> bool: ...
    @property
    def condition(self) -> Formula: ...


class IndexLike(Protocol):
    def lookup(self, name: str, kinds: Iterable[str] | None = None) -> Sequence[DefinitionLike]: ...


TAG_KINDS = ("struct", "union", "enum")
#: The note kinds this module writes (and replaces when it explains a result again).
OWN_NOTE_KINDS = EXPLANATION_NOTE_KINDS
#: Which index kinds can answer each error class.
KINDS_FOR = {
    cls.UNKNOWN_TYPE: ("typedef", "macro"),
    cls.IMPLICIT_FUNCTION: ("function", "function-decl", "macro"),
    cls.UNDECLARED_IDENTIFIER: ("macro", "enumerator", "variable", "function", "function-decl"),
}


def _q(name: str) -> str:
    return f"\u2018{name}\u2019"


# ---------------------------------------------------------------------------
# The configuration as the compiler sees it

_VALUES: dict[tuple[str, ...], Values] = {}
_VALUES_LOCK = threading.Lock()


def config_command(job: Job) -> list[str]:
    """The job's own compile line, made to dump macros (``-dM -E``) without reading the header.

    Built from ``compile.build_command`` so that forced includes, preludes and the
    variant's header are exactly those of the compile being explained.
    """
    from .compile import build_command
    from .toolchain import probe

    # Preprocessing only: start from the syntax-only line whatever --mode the check used.
    command = build_command(dataclasses.replace(job, mode="syntax"), json_diagnostics=False, deps_file=None,
                            compiler_path=probe(job.compiler, job.directory).path)
    header = str(job.header)
    while len(command) >= 2 and command[-2] == "-include" and command[-1] == header:
        del command[-2:]
    return ["-E" if arg == "-fsyntax-only" else arg for arg in command] + ["-dM"]


def parse_macros(text: str) -> Values:
    """``-dM`` output as name -> body (one parser for the whole tool: ``macros.parse_dm``)."""
    from .macros import parse_dm

    return dict(parse_dm(text, keep_params=False))


@dataclass(frozen=True)
class ConfigProbe:
    """The configuration's macros, or why they could not be listed (then every condition is unknown)."""

    values: Values
    error: str | None = None


def probe_config(job: Job) -> ConfigProbe:
    """The macros of the configuration the job compiled in (cached per flag set, successes only).

    A probe that fails or times out says nothing about the configuration: its error is
    returned, and the next explanation asks the compiler again.
    """
    command = config_command(job)
    key = (str(job.directory), *command)
    with _VALUES_LOCK:
        cached = _VALUES.get(key)
    if cached is not None:
        return ConfigProbe(cached)
    try:
        out = run(command, cwd=job.directory, timeout=job.timeout)
    except OSError as exc:
        return ConfigProbe({}, f"could not list macros: {exc.strerror or exc}")
    if out.timed_out:
        return ConfigProbe({}, f"could not list macros: '-dM -E' took over {job.timeout:g} s")
    if out.returncode != 0:
        first = (out.err.strip().splitlines() or [f"exit status {out.returncode}"])[0]
        return ConfigProbe({}, f"could not list macros: {first}")
    values = parse_macros(out.out)
    with _VALUES_LOCK:
        _VALUES[key] = values
    return ConfigProbe(values)


def config_values(job: Job) -> Values:
    """Macro name -> replacement text (empty when the probe failed: see ``probe_config``)."""
    return probe_config(job).values


def why_false(formula: Formula, values: Values) -> list[str]:
    """Phrases saying why ``formula`` is false here ("CONFIG_X is not set")."""
    if evaluate(formula, values) is not False:
        return []
    if isinstance(formula, Defined):
        return [f"{formula.name} is not set"]
    if isinstance(formula, Not):
        inner = formula.f
        if isinstance(inner, Defined):
            value = values.get(inner.name)
            return [f"{inner.name} is set" + (f" (to {value})" if value not in (None, "", "1") else "")]
        return [f"{to_c(inner)} holds"]
    if isinstance(formula, (And, Or)):
        phrases = [p for part in formula.fs for p in why_false(part, values)]
        # defined(X) || defined(X_MODULE): one phrase for the tristate.
        drop = {f"{p[: -len(' is not set')]}_MODULE is not set" for p in phrases if p.endswith(" is not set")}
        return list(dict.fromkeys(p for p in phrases if p not in drop))
    if isinstance(formula, Atom):
        shown = [f"{n}={values[n]}" if values.get(n) is not None else f"{n} unset" for n in sorted(macros(formula))]
        return [f"{formula.text} is false" + (f" ({', '.join(shown)})" if shown else "")]
    return [f"{to_c(formula)} is false"]


def guard_directive(formula: Formula) -> str:
    """How a C programmer writes a test of ``formula`` (``#ifdef X``, ``#if IS_ENABLED(X)``)."""
    if isinstance(formula, Defined):
        return f"#ifdef {formula.name}"
    if isinstance(formula, Not) and isinstance(formula.f, Defined):
        return f"#ifndef {formula.f.name}"
    if (isinstance(formula, Or) and len(formula.fs) == 2 and all(isinstance(f, Defined) for f in formula.fs)):
        first, second = formula.fs
        assert isinstance(first, Defined) and isinstance(second, Defined)
        if second.name == first.name + "_MODULE":
            return f"#if IS_ENABLED({first.name})"
    return f"#if {to_c(formula)}"


# ---------------------------------------------------------------------------
# Files: text and directive scans, read once per run


@dataclass
class Files:
    options: OptionFilter
    _lines: dict[str, list[str]] = field(default_factory=dict)
    _scans: dict[str, FileScan] = field(default_factory=dict)
    #: Per standard header and search path: the files it reaches, with their include depth.
    standard: dict[tuple[str, int], dict[str, int]] = field(default_factory=dict)

    #: Content digests (sha256 hex, "" when unreadable) of the files read, and the paths read since ``touched``
    #: was last reset: what one result's explanation depends on.
    digests: dict[str, str] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)

    def lines(self, path: str) -> list[str]:
        self.touched.add(path)
        cached = self._lines.get(path)
        if cached is None:
            try:
                data = Path(path).read_bytes()
            except OSError:
                data = None
            self.digests[path] = hashlib.sha256(data).hexdigest() if data is not None else ""
            cached = data.decode("utf-8", errors="replace").splitlines() if data is not None else []
            self._lines[path] = cached
        return cached

    def digest(self, path: str) -> str:
        if path not in self.digests:
            self.lines(path)
        return self.digests[path]

    def scan(self, path: str) -> FileScan:
        self.touched.add(path)
        cached = self._scans.get(path)
        if cached is None:
            cached = scan_directives("\n".join(self.lines(path)) + "\n", path, self.options, strict=False)
            self._scans[path] = cached
        return cached


def _chain_of(scan: FileScan, block: CondBlock) -> list[CondBlock]:
    """The branches of the ``#if``/``#elif``/``#else`` chain that ``block`` belongs to."""
    blocks = [b for b in scan.conditionals if b.depth == block.depth]
    index = blocks.index(block)
    start = index
    while start > 0 and blocks[start].kind not in ("if", "ifdef", "ifndef") \
            and blocks[start - 1].end_line == blocks[start].start_line:
        start -= 1
    end = index
    while end + 1 < len(blocks) and blocks[end + 1].kind not in ("if", "ifdef", "ifndef") \
            and blocks[end + 1].start_line == blocks[end].end_line:
        end += 1
    return blocks[start:end + 1]


@dataclass(frozen=True)
class GuardSite:
    """The conditional that hides a definition in this configuration."""

    block: CondBlock  # the branch holding the definition
    chain: tuple[CondBlock, ...]
    #: Where a stub goes: before this line (the closing #elif/#else/#endif of a true branch, or the #endif).
    insert_line: int
    needs_else: bool

    @property
    def first_line(self) -> int:
        return self.chain[0].start_line

    @property
    def endif_line(self) -> int:
        return self.chain[-1].end_line


def hiding_guard(scan: FileScan, line: int, values: Values) -> GuardSite | None:
    """The outermost conditional around ``line`` whose branch is false here, and where a stub fits."""
    around = sorted((b for b in scan.conditionals if b.start_line < line < b.end_line and not b.is_guard),
                    key=lambda b: b.depth)
    for block in around:
        if evaluate(block.condition, values) is not False:
            continue
        chain = _chain_of(scan, block)
        true_branches = [b for b in chain if evaluate(b.condition, values) is True]
        if true_branches:
            target = true_branches[0]
            if target is block:
                return None
            return GuardSite(block, tuple(chain), target.end_line, False)
        if any(b.kind == "else" for b in chain):
            return None  # the #else is there and false too: an enclosing condition decides
        return GuardSite(block, tuple(chain), chain[-1].end_line, True)
    return None


# ---------------------------------------------------------------------------
# Stubs


def stub_for(definition: DefinitionLike, files: Files) -> str | None:
    """The neutral definition of ``definition`` that can go into an ``#else``."""
    kind = definition.kind
    name = definition.name
    path = str(definition.file)
    if kind in ("struct", "union"):
        return struct_stub(kind, name)
    if kind in ("function", "function-decl"):
        signature = getattr(definition, "signature", None)
        ret = getattr(definition, "return_type", None)
        parts = None
        if signature:
            parts = split_function(str(signature), name)
        if parts is None:
            parts = split_function(declaration_text(files.lines(path), definition.line), name)
        if parts is None:
            return None
        found_ret, params = parts
        return function_stub(name, str(ret) if ret else found_ret, params)
    if kind == "macro":
        for macro in files.scan(path).defines:
            if macro.name == name and macro.line == definition.line:
                return macro_stub(name, macro.params if macro.is_function_like else None, macro.body)
        return f"#define {name}"
    if kind == "typedef":
        text = declaration_text(files.lines(path), definition.line)
        if text.startswith("typedef") and "{" not in text:
            return text + ";"
    return None


_STUB_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STUB_KEYWORDS = frozenset(
    "typedef struct union enum static inline extern const volatile restrict void char short int long float "
    "double signed unsigned return do while define NULL _Bool bool false true sizeof".split())


def stub_blockers(stub: str, definition: DefinitionLike, site: GuardSite, ctx: Context) -> list[str]:
    """Names in ``stub`` that cannot exist where it goes (the guard is false there): the guard's own
    macros (``typedef OFF_T_TYPE off_type;`` under ``#ifdef OFF_T_TYPE``) and names defined only
    inside the guarded chain itself."""
    guard = macros(definition.condition) | macros(site.block.condition)
    path = _norm(definition.file)
    blockers: list[str] = []
    for word in dict.fromkeys(_STUB_WORD.findall(stub)):
        if word == definition.name or word in _STUB_KEYWORDS:
            continue
        if word in guard:
            blockers.append(word)
            continue
        found = [d for d in ctx.index.lookup(word) if d.complete]
        if found and all(_norm(d.file) == path and site.first_line < d.line < site.endif_line for d in found):
            blockers.append(word)
    return blockers


# ---------------------------------------------------------------------------
# Explaining one result


@dataclass
class Context:
    result: Result
    root: Path
    index: IndexLike
    values: Values
    closure: frozenset[str]
    search: SearchPath
    files: Files
    indexed_files: int = 0
    seen: set[tuple[str, str]] = field(default_factory=set)
    #: Why the configuration's macros are unknown (the ``-dM -E`` probe failed); None when they are known.
    unknown_reason: str | None = None
    #: Definition files the explanation relied on (beyond what ``files`` read).
    read: set[str] = field(default_factory=set)
    #: False when the explanation rests on the absence of something in a widened index (a new file can change it).
    cacheable: bool = True

    def value(self, formula: Formula) -> bool | None:
        """``formula`` in this configuration; unknown whenever the macros could not be listed."""
        if self.unknown_reason is not None and not isinstance(formula, Const):
            return None
        return evaluate(formula, self.values)


@dataclass
class Explained:
    notes: list[Note] = field(default_factory=list)
    edits: list[Edit] = field(default_factory=list)
    diagnosis: Diagnosis | None = None


def _diagnosis(kind: str, diag: Diagnostic, definition: DefinitionLike | None, ctx: Context, *,
               include: str | None = None, stub: str | None = None) -> Diagnosis:
    """The record of what an explanation established (``definition``: the one it names)."""
    guard = None if definition is None or definition.condition == TRUE else definition.condition
    unknown = ctx.unknown_reason is not None
    values = tuple((name, "?" if unknown else ctx.values.get(name)) for name in sorted(macros(guard))) \
        if guard is not None else ()
    verified = kind != "unknown-condition"
    return Diagnosis(kind=kind, symbol=diag.symbol or "",
                     file=_shown(definition.file, ctx.root) if definition else None,
                     line=definition.line if definition else None, guard=to_c(guard) if guard is not None else None,
                     values=values, include=include, stub=stub, verified=verified,
                     reason=None if verified else ctx.unknown_reason or "hdrtest cannot evaluate that condition")


def _norm(path: str | Path) -> str:
    return os.path.normpath(os.path.abspath(path))


def _shown(path: str | Path, root: Path) -> str:
    return shown_path(Path(_norm(path)), root)


def _where(definition: DefinitionLike, root: Path) -> str:
    return f"{_shown(definition.file, root)}:{definition.line}"


def _lookup(index: IndexLike, name: str, kinds: Sequence[str]) -> list[DefinitionLike]:
    return list(index.lookup(name, kinds))


def _lookup_wide(ctx: Context, name: str, kinds: Sequence[str], needs_complete: bool) -> list[DefinitionLike]:
    """Look in the closure first; index the include directories only when it has no usable definition."""
    found = _lookup(ctx.index, name, kinds)
    if any(d.complete or not needs_complete for d in found):
        return found
    widen = getattr(ctx.index, "widen", None)
    if widen is not None and widen(name):
        found = _lookup(ctx.index, name, kinds)
    return found


def _indexed(ctx: Context) -> int:
    files = getattr(ctx.index, "files", None)
    return files if isinstance(files, int) else ctx.indexed_files


def _query(symbol: str, category: str) -> tuple[str, tuple[str, ...], bool]:
    """(name, kinds, needs a complete type) for a classified symbol."""
    words = symbol.split()
    if len(words) == 2 and words[0] in TAG_KINDS:
        return words[1], (words[0],), category == cls.INCOMPLETE_TYPE
    if category == cls.INCOMPLETE_TYPE:
        return symbol, ("typedef",), True
    return symbol, KINDS_FOR.get(category, ("macro", "function", "function-decl", "variable", "typedef",
                                            "enumerator")), False


def _typedef_target(definition: DefinitionLike, files: Files) -> str | None:
    """``struct fwd`` for ``typedef struct fwd fwd_t;``."""
    text = declaration_text(files.lines(str(definition.file)), definition.line)
    tagged = cls.clean_type(text.replace("typedef", "", 1).rsplit(definition.name, 1)[0])
    return tagged if tagged.split()[0] in TAG_KINDS else None


def include_spelling(target: Path, user: Path, search: SearchPath) -> str | None:
    """``<linux/kvm_host.h>`` or ``"local.h"``: how ``user`` can include ``target``."""
    target = Path(_norm(target))
    if target.parent == Path(_norm(user)).parent:
        return f'"{target.name}"'
    best: str | None = None
    for directory in search.angled_chain():
        try:
            relative = target.relative_to(directory).as_posix()
        except ValueError:
            continue
        found = search.resolve(relative, True, user)
        if found is not None and _norm(found) == str(target) and (best is None or len(relative) < len(best)):
            best = relative
    if best is not None:
        return f"<{best}>"
    for directory in search.quote_chain():
        try:
            return f'"{target.relative_to(directory).as_posix()}"'
        except ValueError:
            continue
    return None


def _sibling_spellings(user: Path, files: Files, limit: int = 200) -> dict[str, int]:
    """How often files next to ``user`` include each spelling: the tree's habits."""
    counts: dict[str, int] = {}
    try:
        neighbours = sorted(p for p in user.parent.iterdir() if p.suffix in (".h", ".c", ".hh", ".hpp", ".cc", ".cpp"))
    except OSError:
        return counts
    for path in neighbours[:limit]:
        for include in files.scan(str(path)).includes:
            spelled = f"<{include.spelling}>" if include.angled else f'"{include.spelling}"'
            counts[spelled] = counts.get(spelled, 0) + 1
    return counts


def _through_habits(candidates: Sequence[DefinitionLike], habits: dict[str, int], user: Path, ctx: Context, *,
                    at_least: int, tries: int = 8) -> tuple[str, DefinitionLike, int] | None:
    """The most common include next to ``user`` (seen at least ``at_least`` times) whose own includes,
    followed along the branches taken in this configuration, reach a definition."""
    wanted = {_norm(d.file): d for d in candidates}
    common = sorted(((count, spelled) for spelled, count in habits.items() if count >= max(2, at_least)),
                    key=lambda item: (-item[0], item[1]))
    for count, spelled in common[:tries]:
        found = ctx.search.resolve(spelled[1:-1], spelled.startswith("<"), user)
        if found is None:
            continue
        reached = _reached(_norm(found), wanted, ctx)
        if reached is not None:
            return spelled, wanted[reached], count
    return None


#: C and POSIX headers, most basic first: a name one of them provides is best included from it.
STANDARD_HEADERS = ("stddef.h", "stdint.h", "stdbool.h", "limits.h", "stdarg.h", "errno.h", "stdio.h", "stdlib.h",
                    "string.h", "time.h", "sys/types.h", "sys/time.h", "sys/socket.h", "netinet/in.h", "net/if.h",
                    "unistd.h", "fcntl.h", "signal.h", "sys/ioctl.h")


def _standard_header(name: str, kinds: set[str], user: Path, ctx: Context) -> tuple[str, DefinitionLike] | None:
    """``<stddef.h>`` and where it defines ``name``, when a standard header (with the compiler's own
    directories on the path) does; None in trees built without them (-nostdinc, as the kernel).

    Of several, the one whose own includes reach the definition soonest: ``u_short`` is
    ``<sys/types.h>``'s even though ``<stdlib.h>`` includes that.
    """
    best: tuple[int, int, str, DefinitionLike] | None = None
    for order, header in enumerate(STANDARD_HEADERS):
        depths = _standard_closure(header, user, ctx)
        for definition in ctx.index.lookup(name, kinds):
            depth = depths.get(_norm(definition.file))
            if depth is not None and definition.complete and (best is None or (depth, order) < best[:2]):
                best = (depth, order, f"<{header}>", definition)
    return (best[2], best[3]) if best is not None else None


def _standard_closure(header: str, user: Path, ctx: Context) -> dict[str, int]:
    """Files ``<header>`` includes, directly or not, with their depth; indexed for lookups."""
    from .changes import job_search_path

    search = job_search_path(ctx.result.job)
    key = (header, id(search))
    known = ctx.files.standard.get(key)
    if known is not None:
        return known
    found = search.resolve(header, True, user)
    # Standard headers provide their names when included directly, whatever internal
    # guards (_STDDEF_H, __need_size_t) surround the definition: every branch counts.
    depths = dict(_included(_norm(found), search, ctx.files, None, limit=200)) if found is not None else {}
    adder = getattr(ctx.index, "add", None)
    if depths and adder is not None:
        adder(sorted(depths))
    ctx.files.standard[key] = depths
    return depths


def _included(start: str, search: SearchPath, files: Files, values: Values | None, *,
              limit: int) -> Iterator[tuple[str, int]]:
    """``start`` and the files it includes, directly or not, breadth first with their depth.

    ``values``: follow only the branches taken with these macros; None follows every branch.
    At most ``limit`` files are reached.
    """
    depths = {start: 0}
    queue = deque([start])
    while queue:
        path = queue.popleft()
        yield path, depths[path]
        for include in files.scan(path).includes:
            if include.computed or (values is not None and evaluate(include.condition, values) is False):
                continue
            resolve = search.resolve_next if include.kind == "include_next" else search.resolve
            target = resolve(include.spelling, include.angled, path)
            if target is not None and (name := _norm(target)) not in depths and len(depths) < limit:
                depths[name] = depths[path] + 1
                queue.append(name)


def _reached(start: str, wanted: Mapping[str, object], ctx: Context, limit: int = 3000) -> str | None:
    """The first of ``wanted`` that ``start`` includes, directly or not, in this configuration."""
    values = ctx.values if ctx.unknown_reason is None else None  # unknown macros: every branch may be taken
    return next((path for path, _ in _included(start, ctx.search, ctx.files, values, limit=limit)
                 if path in wanted), None)


def include_line(user: Path, files: Files) -> int:
    """Where a new ``#include`` goes in ``user``: after its last unconditional one, else after its guard."""
    scan = files.scan(str(user))
    top = [i.line for i in scan.includes if i.condition == TRUE]
    if top:
        return max(top) + 1
    if scan.guard and scan.guard != "#pragma once":
        for macro in scan.defines:
            if macro.name == scan.guard:
                return macro.end_line + 1 if macro.end_line else macro.line + 1
    return 1


def _explain_conditional(diag: Diagnostic, label: str, definition: DefinitionLike, ctx: Context) -> Explained:
    """Case (a): defined, but only under a condition that is false here."""
    out = Explained()
    root = ctx.root
    reasons = why_false(definition.condition, ctx.values)
    where = _where(definition, root)
    message = f"{label} is defined at {where} only when {to_c(definition.condition)}"
    if reasons:
        message += "; in this configuration " + ", ".join(reasons)
    if _norm(definition.file) not in ctx.closure:
        message += f" (and {_shown(ctx.result.job.header, root)} does not include {_shown(definition.file, root)})"
    out.notes.append(Note(message, file=_shown(definition.file, root), line=definition.line, kind="definition"))
    site = hiding_guard(ctx.files.scan(str(definition.file)), definition.line, ctx.values)
    stub = stub_for(definition, ctx.files)
    shown_file = _shown(definition.file, root)
    number = 1
    blockers = stub_blockers(stub, definition, site, ctx) if stub is not None and site is not None else []
    if blockers:
        out.notes.append(Note(f"no stub for {label} is offered: {stub} uses {', '.join(blockers)}, which exist(s) "
                              "only where the guard holds", file=shown_file, line=definition.line, kind="fix"))
        stub = None
    editable = inside(Path(_norm(definition.file)), root)
    if not editable:
        out.notes.append(Note(f"{shown_file} is outside the checked tree: hdrtest suggests no edit of it",
                              file=shown_file, line=definition.line, kind="fix"))
        stub = None
    edit = tree_edit(ctx, file=Path(_norm(definition.file)), line=site.insert_line, lines=(stub,),
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
    out.diagnosis = _diagnosis("conditional", diag, definition, ctx, stub=stub if edit is not None else None)
    return out


def _explain_elsewhere(diag: Diagnostic, label: str, candidates: list[DefinitionLike], ctx: Context) -> Explained:
    """Case (b): defined unconditionally in a header this one does not include."""
    out = Explained()
    user = Path(diag.abs_file or _norm(ctx.root / diag.file))
    habits = _sibling_spellings(user, ctx.files)
    scored: list[tuple[tuple[int, int, int], str, DefinitionLike]] = []
    for definition in candidates:
        spelled = include_spelling(Path(str(definition.file)), user, ctx.search)
        if spelled is None:
            continue
        # The tree's habit first, then the header nearest to the user, then the shortest spelling.
        near = len(os.path.commonpath([_norm(definition.file), str(user)]))
        scored.append(((-habits.get(spelled, 0), -near, len(spelled)), spelled, definition))
    if not scored:
        definition = candidates[0]
        out.notes.append(Note(f"{label} is defined at {_where(definition, ctx.root)}, which no include path of this "
                              "compile reaches", file=_shown(definition.file, ctx.root), line=definition.line,
                              kind="definition"))
        out.diagnosis = _diagnosis("not-included", diag, definition, ctx)
        return out
    scored.sort(key=lambda item: item[0])
    _, spelled, definition = scored[0]
    others = f" (also at {len(candidates) - 1} other place(s))" if len(candidates) > 1 else ""
    message = f"{label} is defined at {_where(definition, ctx.root)}{others}, which {_shown(user, ctx.root)} " \
              "does not include"
    standard = _standard_header(candidates[0].name, {d.kind for d in candidates}, user, ctx)
    if standard is not None:
        # size_t is <stddef.h>'s, whatever other libraries on the include path typedef it too.
        spelled, definition = standard
        message = f"{label} comes from the standard header {spelled} ({_where(definition, ctx.root)}), which " \
                  f"{_shown(user, ctx.root)} does not include"
    # Files next to this one reach it through a header of their own (<linux/types.h>, not
    # <asm-generic/int-ll64.h>): that header is the one to include.
    via = _through_habits(candidates, habits, user, ctx, at_least=habits.get(spelled, 0) + 1)
    if via is not None:
        spelled, definition, count = via
        message = f"{label} is defined at {_where(definition, ctx.root)}{others}, which {_shown(user, ctx.root)} " \
                  f"does not include; {spelled}, included by {count} file(s) next to it, brings it in"
    out.notes.append(Note(message, file=_shown(definition.file, ctx.root), line=definition.line,
                          kind="definition"))
    out.diagnosis = _diagnosis("standard-header" if standard is not None and via is None else "not-included", diag,
                               definition, ctx, include=spelled)
    _add_include(out, spelled, label, user, ctx)
    return out


def _explain_standard(diag: Diagnostic, label: str, query: tuple[str, Sequence[str]],
                      definitions: Sequence[DefinitionLike], ctx: Context) -> Explained | None:
    """A name a standard header provides (``size_t``, ``FILE``), when the compile does not see it and the
    tree does not hide a definition of its own: include that header.  None when another case applies."""
    seen_here = [d for d in definitions if _norm(d.file) in ctx.closure and d.complete
                 and ctx.value(d.condition) is not False]
    in_tree = [d for d in definitions if inside(Path(_norm(d.file)), ctx.root)]
    if seen_here or in_tree or ctx.unknown_reason is not None:
        return None  # the tree's own definitions decide (``_explain_elsewhere`` still prefers a standard header)
    user = Path(diag.abs_file or _norm(ctx.root / diag.file))
    found = _standard_header(query[0], set(query[1]), user, ctx)
    if found is None:
        return None
    spelled, definition = found
    # gcc's <stddef.h> read with __need_NULL only is in the closure, its size_t branch not taken.
    how = "reads without it (only some of its branches were taken)" if _norm(definition.file) in ctx.closure \
        else "does not include"
    out = Explained([Note(f"{label} comes from the standard header {spelled} ({_where(definition, ctx.root)}), "
                          f"which {_shown(user, ctx.root)} {how}", file=_shown(definition.file, ctx.root),
                          line=definition.line, kind="definition")])
    out.diagnosis = _diagnosis("standard-header", diag, definition, ctx, include=spelled)
    _add_include(out, spelled, label, user, ctx)
    return out


def _add_include(out: Explained, spelled: str, label: str, user: Path, ctx: Context) -> None:
    """The ``#include`` edit and its note, when ``user`` is a file of the tree."""
    text = f"#include {spelled}"
    edit = tree_edit(ctx, file=user, line=include_line(user, ctx.files), lines=(text,), group="include",
                     description=f"include for {label}")
    if edit is None:
        out.notes.append(Note(f"fix: include {spelled} before {_shown(user, ctx.root)} (it is outside the checked "
                              "tree: hdrtest suggests no edit of it)", kind="include"))
        return
    out.edits.append(edit)
    out.notes.append(Note(f"fix: add '{text}' to {_shown(user, ctx.root)}", file=_shown(user, ctx.root),
                          line=edit.line, kind="include", fix_diff=render_diff([edit], ctx.root)))


def tree_edit(ctx: Context, *, file: Path, line: int, lines: tuple[str, ...], group: str = "",
              prefix: tuple[str, ...] = (), description: str = "") -> Edit | None:
    """An edit of ``file``, or None when it lies outside the checked tree: hdrtest never proposes editing
    the compiler's, the C library's or any other file it was not asked to check."""
    if not inside(file, ctx.root):
        return None
    return Edit(file=file, line=line, lines=lines, group=group, prefix=prefix, description=description)


def _explain_member(diag: Diagnostic, member: str, container: str, ctx: Context) -> Explained:
    """A member declared only under a condition inside its struct."""
    out = Explained()
    name, kinds, _ = _query(container, cls.INCOMPLETE_TYPE)
    for definition in _lookup(ctx.index, name, kinds):
        if not definition.complete:
            continue
        path = str(definition.file)
        lines = ctx.files.lines(path)
        depth = 0
        for number in range(definition.line, min(len(lines), definition.line + 2000) + 1):
            text = lines[number - 1]
            if number > definition.line and depth > 0 and _declares(text, member):
                condition = ctx.files.scan(path).condition_at(number)
                if ctx.value(condition) is None:
                    out.notes.append(Note(
                        f"member {_q(member)} of {_q(container)} is declared at {_shown(path, ctx.root)}:{number} "
                        f"only when {to_c(condition)}, whose value here is unknown (not verified: "
                        f"{ctx.unknown_reason or 'hdrtest cannot evaluate that condition'})",
                        file=_shown(path, ctx.root), line=number, kind="definition"))
                    return out
                if ctx.value(condition) is False:
                    reasons = why_false(condition, ctx.values)
                    out.notes.append(Note(
                        f"member {_q(member)} of {_q(container)} is declared at {_shown(path, ctx.root)}:{number} "
                        f"only when {to_c(condition)}; in this configuration {', '.join(reasons)}",
                        file=_shown(path, ctx.root), line=number, kind="definition"))
                    out.notes.append(Note(f"fix: guard the use at {diag.file}:{diag.line} with "
                                          f"{guard_directive(condition)}, or declare the member unconditionally",
                                          file=diag.file, line=diag.line, kind="fix"))
                    return out
            depth += text.count("{") - text.count("}")
            if number > definition.line and depth <= 0 and "}" in text:
                break
        out.notes.append(Note(f"{_q(container)} (defined at {_where(definition, ctx.root)}) has no member "
                              f"{_q(member)} in any configuration", file=_shown(path, ctx.root),
                              line=definition.line, kind="definition"))
        return out
    return out


def _declares(text: str, member: str) -> bool:
    return re.search(r"[\s*]" + re.escape(member) + r"\s*(?:\[[^\]]*\]\s*)?(?::\s*\d+\s*)?[;,]", text) is not None


def _explain_missing_include(diag: Diagnostic, spelling: str, ctx: Context) -> Explained:
    out = Explained()
    base = Path(spelling).name
    named, complete = _files_named(ctx.root, base)
    found = sorted(p for p in named if p.as_posix().endswith("/" + spelling) or p.name == spelling)
    if not found:
        where = "in the tree or on the include path" if complete else \
            f"among the first {_NAMES_LIMIT:,} files of the tree"
        out.notes.append(Note(f"no file {_q(spelling)} exists {where}", kind="definition"))
        return out
    shown = ", ".join(_shown(p, ctx.root) for p in found[:3])
    out.notes.append(Note(f"{_q(spelling)} is not on this compile's include path; the tree has {shown}"
                          + (f" and {len(found) - 3} more" if len(found) > 3 else ""), kind="definition"))
    user = Path(diag.abs_file or _norm(ctx.root / diag.file))
    spelled = include_spelling(found[0], user, ctx.search)
    if spelled is not None:
        out.notes.append(Note(f"fix: spell it #include {spelled}, or add its directory with -I", kind="fix"))
    return out


#: Root -> (file name -> directories holding one, whether the whole tree was listed).
_NAMES: dict[Path, tuple[dict[str, list[str]], bool]] = {}
#: How many files a search for a missing include lists at most: a root such as /tmp or $HOME
#: can hold millions, and a hint is not worth minutes.
_NAMES_LIMIT = 300_000


def _files_named(root: Path, name: str) -> tuple[list[Path], bool]:
    """Files called ``name`` under ``root`` (hidden directories skipped), and whether all of it was searched."""
    known = _NAMES.get(root)
    if known is None:
        table: dict[str, list[str]] = {}
        count = 0
        complete = True
        for directory, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for filename in filenames:
                table.setdefault(filename, []).append(directory)  # strings: a Path per file costs seconds
            count += len(filenames)
            if count > _NAMES_LIMIT:
                complete = False
                break
        known = _NAMES[root] = (table, complete)
    table, complete = known
    return [Path(directory, name) for directory in table.get(name, [])], complete


def guard_macro(display: str) -> str:
    """``T_H_`` for ``t.h``: the macro of a new include guard, from the header's path."""
    return re.sub(r"[^A-Za-z0-9]", "_", display).upper().lstrip("_") + "_"


def _explain_guard(diag: Diagnostic, ctx: Context) -> Explained:
    out = Explained()
    path = Path(diag.abs_file or _norm(ctx.root / diag.file))
    scan = ctx.files.scan(str(path))
    if scan.guard is not None:
        out.notes.append(Note(f"{diag.file} has the include guard {scan.guard}, yet {_q(diag.symbol or '?')} is "
                              "defined twice when it is included twice", kind="definition"))
        return out
    macro = guard_macro(_shown(path, ctx.root))
    lines = ctx.files.lines(str(path))
    first = 1  # the guard goes after the leading comment (licence, description)
    while first <= len(lines) and (not lines[first - 1].strip()
                                   or lines[first - 1].lstrip().startswith(("//", "/*", "*"))):
        first += 1
    edits = [e for e in (tree_edit(ctx, file=path, line=first, lines=(f"#ifndef {macro}", f"#define {macro}"),
                                   group="guard-open", description="include guard"),
                         tree_edit(ctx, file=path, line=len(lines) + 1, lines=(f"#endif /* {macro} */",),
                                   group="guard-close", description="include guard")) if e is not None]
    out.edits.extend(edits)
    out.notes.append(Note(f"{diag.file} has no include guard: a second #include defines "
                          f"{_q(diag.symbol or '?')} again", file=diag.file, kind="definition"))
    out.notes.append(Note(f"fix: wrap it in #ifndef {macro} / #define {macro} ... #endif", file=diag.file,
                          kind="fix", fix_diff=render_diff(edits, ctx.root) if edits else None))
    return out


def _explain_error_directive(diag: Diagnostic, ctx: Context) -> Explained:
    """An ``#error`` in a header is usually a deliberate "do not include me alone"."""
    shown = diag.file or "the header"
    return Explained(notes=[Note(
        f"{shown}:{diag.line} refuses this configuration or direct inclusion with #error; if that is by design, "
        f"exclude it with a reason in the settings (exclude = [{{path = \"{shown}\", reason = \"...\"}}]) or mark it "
        f"/* hdrtest: skip - reason */; otherwise the condition around the #error names what is missing",
        file=diag.file, line=diag.line, kind="fix")])


def _explain_unused(diag: Diagnostic, name: str, ctx: Context) -> Explained:
    lines = ctx.files.lines(diag.abs_file or _norm(ctx.root / diag.file))
    text = lines[diag.line - 1] if 0 < diag.line <= len(lines) else ""
    # A function's name is followed by its parameter list on the defining line.
    function = re.search(r"\b" + re.escape(name) + r"\s*\(", text) is not None
    first = "make it static inline" if function else \
        "move the definition into the one source file that uses it and declare it extern here"
    return Explained([Note(
        f"{_q(name)} is a static {'function' if function else 'definition'} in a header: every file that includes "
        f"the header gets its own copy, and with -Werror each one that does not use it fails. Fix: {first}, or "
        "mark it __maybe_unused", file=diag.file, line=diag.line, kind="fix")])


def explain_diagnostic(diag: Diagnostic, ctx: Context) -> Explained:
    """Notes and edits for one classified error."""
    category = diag.category
    symbol = diag.symbol
    if category == cls.ERROR_DIRECTIVE:
        return _explain_error_directive(diag, ctx)
    if category == cls.UNUSED_DEFINITION and symbol is not None:
        return _explain_unused(diag, symbol, ctx)
    if category is None or symbol is None and category != cls.INCLUDE_GUARD:
        return Explained()
    key = (category, symbol or "")
    if key in ctx.seen:
        return Explained()
    ctx.seen.add(key)
    if category == cls.INCLUDE_GUARD:
        return _explain_guard(diag, ctx)
    assert symbol is not None
    if category == cls.MISSING_INCLUDE:
        return _explain_missing_include(diag, symbol, ctx)
    if category == cls.NO_MEMBER:
        context = cls.analyse(diag).context
        return _explain_member(diag, symbol, context, ctx) if context else Explained()
    if category in (cls.REDEFINITION, cls.OTHER):
        return _explain_redefinition(diag, symbol, ctx) if category == cls.REDEFINITION else Explained()
    name, kinds, needs_complete = _query(symbol, category)
    label = _q(symbol)
    definitions = _lookup_wide(ctx, name, kinds, needs_complete and kinds != ("typedef",))
    if category == cls.INCOMPLETE_TYPE and kinds == ("typedef",):
        # gcc names the typedef; the type to complete is what it stands for.
        for typedef in definitions:
            target = _typedef_target(typedef, ctx.files)
            if target is not None:
                name, kinds, _ = _query(target, category)
                label = f"{_q(target)} (through typedef {_q(symbol)})"
                definitions = _lookup_wide(ctx, name, kinds, True)
                break
    return explain_definitions(diag, label, definitions, needs_complete, ctx, query=(name, kinds))


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
        by_file.setdefault(_norm(definition.file), []).append(definition)
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
        standard = _explain_standard(diag, label, query, definitions, ctx)
        if standard is not None:
            return standard
    out = Explained()
    complete = unconditional_files([d for d in definitions if d.complete or not needs_complete], ctx.values)
    forwards = [d for d in definitions if needs_complete and not d.complete]
    seen_forwards = [d for d in forwards if _norm(d.file) in ctx.closure]
    values = ctx.values
    ctx.read.update(_norm(d.file) for d in definitions)
    disabled = [d for d in complete if ctx.value(d.condition) is False]
    enabled = [d for d in complete if ctx.value(d.condition) is True]
    unknown = [d for d in complete if ctx.value(d.condition) is None]
    in_closure = [d for d in enabled if _norm(d.file) in ctx.closure]
    elsewhere = [d for d in enabled if _norm(d.file) not in ctx.closure]
    if seen_forwards and complete:
        where = _where(seen_forwards[0], ctx.root)
        target = (disabled or elsewhere or in_closure or unknown)[0]
        out.notes.append(Note(f"{label} is only forward-declared where a complete type is needed ({where}); its "
                              f"complete definition is at {_where(target, ctx.root)}",
                              file=_shown(seen_forwards[0].file, ctx.root), line=seen_forwards[0].line,
                              kind="definition"))
    # A guard in a file this compile reads is the cause.  One in a file it does not read
    # (the user-space branch of some unrelated header) is not, when an unconditional
    # definition exists elsewhere: that one is the header to include.
    guarded_here = any(_norm(d.file) in ctx.closure for d in disabled)
    # A definition this compile reads under a condition we cannot evaluate may be the one
    # it sees: then a false guard elsewhere is not established as the cause.
    unknown_here = [d for d in unknown if _norm(d.file) in ctx.closure]
    if disabled and not in_closure and not unknown_here and (guarded_here or not elsewhere):
        disabled.sort(key=lambda d: (_norm(d.file) not in ctx.closure, len(to_c(d.condition))))
        found = _explain_conditional(diag, label, disabled[0], ctx)
        out.notes += found.notes
        out.edits += found.edits
        out.diagnosis = found.diagnosis
        if elsewhere:
            more = _explain_elsewhere(diag, label, elsewhere, ctx)
            out.notes += [Note("it is also defined unconditionally: " + n.message, n.file, n.line, n.column,
                               n.kind, n.fix_diff) for n in more.notes]
        return out
    if elsewhere and not in_closure:
        found = _explain_elsewhere(diag, label, elsewhere, ctx)
        out.notes += found.notes
        out.edits += found.edits
        out.diagnosis = found.diagnosis
        return out
    if in_closure:
        definition = in_closure[0]
        user = diag.abs_file and _norm(diag.abs_file)
        if user == _norm(definition.file) and definition.line > diag.line:
            message = f"{label} is defined at {_where(definition, ctx.root)}, after its use at line {diag.line}"
        else:
            message = f"{label} is defined at {_where(definition, ctx.root)}, which this compile reads"
            if definition.condition != TRUE:
                message += f" (when {to_c(definition.condition)}, which holds here)"
        out.notes.append(Note(message, file=_shown(definition.file, ctx.root), line=definition.line,
                              kind="definition"))
        out.diagnosis = _diagnosis("defined-here", diag, definition, ctx)
        return out
    if unknown:
        definition = (unknown_here or unknown)[0]
        out.notes.append(Note(f"{label} is defined at {_where(definition, ctx.root)} only when "
                              f"{to_c(definition.condition)}, whose value here is unknown (not verified: "
                              f"{ctx.unknown_reason or 'hdrtest cannot evaluate that condition'})",
                              file=_shown(definition.file, ctx.root), line=definition.line, kind="definition"))
        out.diagnosis = _diagnosis("unknown-condition", diag, definition, ctx)
        return out
    # "Only forward-declared" and "nowhere" rest on what the include directories lack: a new file changes that.
    ctx.cacheable = False
    if forwards:
        definition = (seen_forwards or forwards)[0]
        out.notes.append(Note(f"{label} is only forward-declared ({_where(definition, ctx.root)}); no complete "
                              f"definition exists in the {_indexed(ctx)} indexed file(s)",
                              file=_shown(definition.file, ctx.root), line=definition.line, kind="definition"))
        out.diagnosis = _diagnosis("forward-only", diag, definition, ctx)
        return out
    out.diagnosis = _diagnosis("nowhere", diag, None, ctx)
    out.notes.append(Note(f"{label} is defined nowhere in the {_indexed(ctx)} indexed file(s) (the header's "
                          "includes and the include directories of its flags)", kind="definition"))
    return out


def _explain_redefinition(diag: Diagnostic, symbol: str, ctx: Context) -> Explained:
    out = Explained()
    words = symbol.split()
    name = words[-1]
    kinds = (words[0],) if len(words) == 2 and words[0] in TAG_KINDS else \
        ("struct", "union", "enum", "typedef", "function", "function-decl", "variable", "enumerator")
    places = [d for d in _lookup(ctx.index, name, kinds)
              if d.complete and _norm(d.file) in ctx.closure and ctx.value(d.condition) is not False]
    if len(places) > 1:
        shown = ", ".join(_where(d, ctx.root) for d in places[:4])
        out.notes.append(Note(f"{_q(symbol)} is defined {len(places)} times in what this compile reads: {shown}; "
                              "keep one definition and include its header where the others are",
                              kind="definition"))
    return out


# ---------------------------------------------------------------------------
# The report


@dataclass
class Explanation:
    """What ``explain_report`` did: the edits it suggests and how long the index took."""

    edits: list[Edit] = field(default_factory=list)
    edits_by_result: dict[str, list[Edit]] = field(default_factory=dict)
    #: The results this call explained (those it skipped as already explained are not here).
    explained: list[Result] = field(default_factory=list)
    index_files: int = 0
    index_seconds: float = 0.0


def include_dirs(job: Job) -> list[Path]:
    search = SearchPath.from_flags(job.flags, job.directory)
    return list(dict.fromkeys([*search.quote_dirs, *search.include_dirs, *search.system_dirs, *search.after_dirs]))


_HEADER_SUFFIXES = (".h", ".hh", ".hpp", ".hxx", ".h++", ".inc")


def closure_paths(results: Sequence[Result]) -> list[Path]:
    """What the failing compiles read: their include closures (from the compiler's dependency output)."""
    chosen: dict[str, None] = {}
    for result in results:
        chosen[_norm(result.job.header)] = None
        for dep in result.dependencies:
            chosen[_norm(dep)] = None
    return [Path(p) for p in chosen]


def wider_paths(results: Sequence[Result], limit: int = 200_000) -> list[Path]:
    """Every header in the failing headers' directories and under the include directories of their flags."""
    chosen: dict[str, None] = {}
    directories: dict[Path, None] = {}
    for result in results:
        directories[result.job.header.parent] = None
        for directory in include_dirs(result.job):
            directories[directory] = None
    for directory in directories:
        for base, dirnames, filenames in os.walk(directory):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for filename in filenames:
                if filename.endswith(_HEADER_SUFFIXES):
                    chosen[os.path.join(base, filename)] = None
            if len(chosen) > limit:
                break
    return [Path(p) for p in chosen]


def index_paths(results: Sequence[Result], limit: int = 200_000) -> list[Path]:
    """The closure and the wider set together (what a fully widened ``LazyIndex`` covers)."""
    return list(dict.fromkeys([*closure_paths(results), *wider_paths(results, limit)]))


#: An identifier as a whole word: what a file must contain to define it.
_WORD = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")


class LazyIndex:
    """A symbol index over the failing compiles' closures, widened to the include directories on demand.

    Most explanations are about something the header does read (a definition under a
    false condition); only a name not defined anywhere in the closure needs the wider
    (and, on a kernel tree, ten times larger) set of headers.  Of that set, only the files
    that contain the name as a word can define it, so widening for a name parses those
    alone: a word list of 6,700 kernel headers takes about a second, parsing them all
    for symbols about fifteen.
    """

    def __init__(self, results: Sequence[Result], cache_dir: Path, options: OptionFilter | None = None, *,
                 base: IndexLike | None = None, jobs: int = 1) -> None:
        """``base``: an index this run already built (the variant planner's), extended instead of rebuilt;
        ``jobs``: processes to parse many files with."""
        self.results = list(results)
        self.cache_dir = cache_dir
        self.options = options
        self.jobs = jobs
        self.seconds = 0.0
        start = time.monotonic()
        first = closure_paths(self.results)
        self._indexed: set[str] = {str(p) for p in first}
        adder = getattr(base, "add_files", None)
        if base is not None and adder is not None:
            adder(first)  # files it has already cost a hash each
            self.index = base
        else:
            self.index = build_index(first, cache_dir, options)
        #: Files the answers cover: the closure, and after a widening the include directories too.
        self.files = len(first)
        #: The include directories' files, and for each word the ones containing it (built on the first widening).
        self._wider: list[str] = []
        self._words: dict[bytes, list[int]] | None = None
        self.seconds += time.monotonic() - start

    @property
    def widened(self) -> bool:
        return self._words is not None

    def add(self, paths: Sequence[str]) -> bool:
        """Index ``paths`` too (say, the compiler's own headers); False when all of them were already."""
        fresh = [p for p in paths if p not in self._indexed]
        adder = getattr(self.index, "add_files", None)
        if not fresh or adder is None:
            return False
        self._indexed.update(fresh)
        if self.jobs > 1 and len(fresh) > 64:
            adder(fresh, jobs=self.jobs)
        else:
            adder(fresh)
        return True

    def lookup(self, name: str, kinds: Iterable[str] | None = None) -> Sequence[DefinitionLike]:
        return self.index.lookup(name, kinds)

    def widen(self, name: str | None = None) -> bool:
        """Index the include directories' files that mention ``name`` (every one without a name).

        False when that added nothing: the answer for ``name`` cannot have changed.
        """
        start = time.monotonic()
        try:
            words = self._word_map()
            if name is None:
                wanted = self._wider
            else:
                wanted = [self._wider[i] for i in words.get(name.encode("utf-8", "replace"), ())]
            return self.add(wanted)
        finally:
            self.seconds += time.monotonic() - start

    def _word_map(self) -> dict[bytes, list[int]]:
        if self._words is None:
            closure = {str(p) for p in closure_paths(self.results)}
            self._wider = [str(p) for p in wider_paths(self.results)]
            self.files = len(closure | set(self._wider))
            words: dict[bytes, list[int]] = {}
            for number, path in enumerate(self._wider):
                try:
                    with open(path, "rb") as handle:
                        data = handle.read()
                except OSError:
                    continue  # the index records it as unreadable if it is ever asked to read it
                for word in set(_WORD.findall(data)):
                    found = words.get(word)
                    if found is None:
                        words[word] = [number]
                    else:
                        found.append(number)
            self._words = words
        return self._words


def symbol_cache_dir(settings: Settings) -> Path:
    from .check import run_caches

    return run_caches(settings) / "symbols"


def build_index(paths: Sequence[Path], cache_dir: Path, options: OptionFilter | None = None) -> IndexLike:
    from .compile import private_dir
    from .scan.symbols import SymbolIndex

    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError:
        # An unusable --cache-dir costs the cache, not the explanation.
        cache_dir = private_dir() / "symbols"
        cache_dir.mkdir(parents=True, exist_ok=True)
    index: IndexLike = SymbolIndex.build(paths, cache_dir, options)
    return index


def _option_filter(settings: Settings) -> OptionFilter:
    return OptionFilter.from_args((settings.option_pattern,), settings.options)


def is_explained(result: Result) -> bool:
    """Whether a result already carries this module's notes (it came back from the cache explained)."""
    return any(n.kind in OWN_NOTE_KINDS for d in result.diagnostics for n in d.notes)


def explain_report(report: CheckReport, settings: Settings, *, index: IndexLike | None = None,
                   triage_results: bool = True, base_index: IndexLike | None = None,
                   skip_explained: bool = False, graphs: GraphStore | None = None) -> Explanation:
    """Classify every failing result's diagnostics and attach explanations (and triage) as notes.

    ``base_index``: the run's symbol index, reused rather than built again; ``graphs``:
    where the compile database's include graphs persist (the result cache).
    ``skip_explained``: leave results that already carry notes alone (a cached result
    comes back with its explanation; ``hdrtest fix`` wants the edits, so it explains
    everything again).
    """
    from .toolchain import probe

    explanation = Explanation()
    failing = [r for r in report.results if r.status.failed and r.diagnostics
               and not (skip_explained and is_explained(r))]
    if not failing:
        return explanation
    explanation.explained = failing
    for result in failing:
        # Results can come back from a cache or be explained twice (check --fix): start clean.
        for diag in result.diagnostics:
            diag.notes = [n for n in diag.notes if n.kind not in OWN_NOTE_KINDS]
            diag.diagnosis = None
        family = probe(result.job.compiler, result.job.directory).family
        cls.classify_all(result.diagnostics, family, check_guard=result.job.check_guard)
    needs_index = any(d.category not in (None, cls.OTHER, cls.INCLUDE_GUARD, cls.MISSING_INCLUDE, cls.ERROR_DIRECTIVE,
                                         cls.UNUSED_DEFINITION)
                      for r in failing for d in r.diagnostics if d.is_error)
    lazy: LazyIndex | None = None
    if index is None and needs_index:
        same_filter = getattr(base_index, "options", None) in (None, OptionFilter()) and \
            _option_filter(settings) == OptionFilter()
        lazy = LazyIndex(failing, symbol_cache_dir(settings), _option_filter(settings),
                         base=base_index if same_filter else None, jobs=settings.jobs or default_jobs())
        index = lazy
    files = Files(_option_filter(settings))
    probes: dict[str, ConfigProbe] = {}
    for result in failing:
        config = probes[result.job.key] = probe_config(result.job)
        files.touched = set()
        ctx = Context(result=result, root=report.root, index=index or _EmptyIndex(), values=config.values,
                      closure=frozenset(_norm(d) for d in [*result.dependencies, str(result.job.header)]),
                      search=SearchPath.from_flags(result.job.flags, result.job.directory), files=files,
                      indexed_files=explanation.index_files, unknown_reason=config.error)
        edits: list[Edit] = []
        for diag in result.diagnostics:
            if not diag.is_error:
                continue
            try:
                found = explain_diagnostic(diag, ctx)
            except (OSError, ValueError, RecursionError) as exc:
                # An explanation is an extra: a file that vanished or a construct the
                # scanners misread must not cost the user the check itself.
                found = Explained([Note(f"hdrtest could not explain this error ({exc.__class__.__name__}: {exc})",
                                        kind="explain-error")])
            diag.notes.extend(found.notes)
            diag.diagnosis = found.diagnosis or diag.diagnosis
            edits.extend(found.edits)
        result.explained_from = _inputs(ctx) if ctx.cacheable and config.error is None else None
        explanation.edits_by_result[result.job.key] = edits
        explanation.edits.extend(edits)
    if lazy is not None:
        explanation.index_seconds = lazy.seconds
        explanation.index_files = lazy.files
    if triage_results:
        _triage(failing, settings, report.root, graphs, probes)
    return explanation


def _inputs(ctx: Context) -> dict[str, str]:
    """What one explanation read that the compile did not: path -> content digest."""
    paths = (ctx.files.touched | ctx.read) - ctx.closure
    return {path: ctx.files.digest(path) for path in sorted(paths)}


class _EmptyIndex:
    def lookup(self, name: str, kinds: Iterable[str] | None = None) -> Sequence[DefinitionLike]:
        return []


def _triage(failing: Sequence[Result], settings: Settings, root: Path, store: GraphStore | None = None,
            probes: Mapping[str, ConfigProbe] | None = None) -> None:
    from . import compdb
    from .plan import flag_source
    from .triage import Kbuild, UnitGraphs, triage

    try:
        database = flag_source(settings).database
    except Exception:  # noqa: BLE001 - triage is an extra; a broken database was reported by the check
        return
    if database is None:
        return
    entries = compdb.load(database)
    graphs = UnitGraphs(entries, store)
    kbuild = Kbuild(root)
    for result in failing:
        config = (probes or {}).get(result.job.key) or probe_config(result.job)
        first = next((d for d in result.diagnostics if d.is_error), None)
        if config.error is not None:
            # Which units build in this configuration depends on its macros: unknown, so no verdict.
            result.triage = None
            if first is not None:
                first.notes.append(Note(f"impact not verified: {config.error}", kind="triage"))
            continue
        preferred = [c.name if c.name.startswith("CONFIG_") else "CONFIG_" + c.name for c in result.job.variant.changes]
        verdict = triage(result.job.header, entries, config.values, root, preferred=preferred,
                         graphs=graphs, kbuild=kbuild, variant=result.job.variant)
        result.triage = verdict.label
        if first is not None:
            first.notes.append(Note(verdict.message, kind="triage"))
