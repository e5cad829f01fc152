"""Records passed between hdrtest's stages.

Everything here is plain data: planning produces ``Job``s, executors turn them into
``Result``s, explanation decorates ``Diagnostic``s with ``Note``s, and reports read
``CheckReport``.  Keeping them frozen where possible lets jobs be hashed for the cache
and pickled to remote workers.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path


class Status(str, enum.Enum):
    """Outcome of one header in one configuration variant."""

    PASS = "pass"
    FAIL = "fail"
    TIMEOUT = "timeout"
    #: The compiler could not be run or crashed (signal); never counted as a pass.
    ERROR = "error"
    UNVERIFIED = "unverified"

    @property
    def failed(self) -> bool:
        return self in (Status.FAIL, Status.TIMEOUT, Status.ERROR)


@dataclass(frozen=True)
class OptionSetting:
    """One configuration macro's value in a variant.

    ``value`` is ``"y"``, ``"m"`` or ``"n"`` for Kconfig-style booleans/tristates, or the
    literal replacement text for a valued macro (``"100"``, ``"\"str\""``).
    """

    name: str
    value: str

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


@dataclass(frozen=True)
class Variant:
    """A configuration to compile a header in, described relative to the baseline.

    ``changes`` is what hdrtest asked for (the minimal difference a user reads);
    ``implied`` is what the configuration system changed as a consequence (Kconfig
    ``select``/``depends on``), ``defines`` is the full list of macro changes the
    compiler sees, in order, as ``(name, value-or-None)`` (None means ``#undef``).
    """

    name: str = "baseline"
    changes: tuple[OptionSetting, ...] = ()
    implied: tuple[OptionSetting, ...] = ()
    defines: tuple[tuple[str, str | None], ...] = ()
    reason: str = ""
    #: ``.config`` lines that reproduce this variant in a Kconfig tree.
    config_lines: tuple[str, ...] = ()
    #: Extra text for the variant's forced header after the macro changes: headers a
    #: build generates from the configuration (Linux's bounds.h, asm-offsets.h),
    #: regenerated for this variant, each under its own include guard.
    prelude_text: str = ""

    @property
    def is_baseline(self) -> bool:
        return not self.changes and not self.defines

    def describe(self) -> str:
        if self.is_baseline:
            return "baseline"
        text = ", ".join(str(c) for c in self.changes)
        if self.implied:
            text += " (which also sets " + ", ".join(str(c) for c in self.implied) + ")"
        return text


BASELINE = Variant()


@dataclass(frozen=True)
class Job:
    """One compile: a header, a language, flags and a variant."""

    header: Path  # absolute
    display: str  # path as shown to the user, relative to the tree root when inside it
    language: str  # "c" or "c++"
    compiler: str
    flags: tuple[str, ...]  # compile flags without the TU-specific parts
    directory: Path  # working directory of the compile
    variant: Variant = BASELINE
    preludes: tuple[Path, ...] = ()
    check_guard: bool = False
    #: "syntax" (-fsyntax-only) or "asm" (-S -o /dev/null, as Linux's i915 header test): some
    #: warnings (unused static functions and constants) exist only past parsing, so -Werror trees need asm.
    mode: str = "syntax"
    timeout: float = 60.0
    #: Where the flags came from ("compile_commands.json: src/foo.c", "--cflags").
    flags_origin: str = ""

    @property
    def key(self) -> str:
        return f"{self.display}[{self.language}]@{self.variant.name}"


class DiagnosisKind(str, enum.Enum):
    """What an explanation established about an error (the record's ``kind``)."""

    #: A C library or compiler header provides the name: ``include`` is the line to add.
    STANDARD_HEADER = "standard-header"
    #: Defined (at ``file``:``line``) in a header this one does not include; ``include`` brings it in.
    NOT_INCLUDED = "not-included"
    #: Defined (or, with ``context``, a member declared) only under ``guard``, false here.
    CONDITIONAL = "conditional"
    #: As CONDITIONAL, but the guard's value here is unknown: ``verified`` is False.
    UNKNOWN_CONDITION = "unknown-condition"
    #: The compile reads a definition (``guard``, when there is one, holds here).
    DEFINED_HERE = "defined-here"
    #: Defined at ``file``:``line``, in the file that uses it, after the use.
    DEFINED_AFTER_USE = "defined-after-use"
    #: Only forward-declared at ``file``:``line``: ``places`` names a complete definition, else ``total`` is how
    #: many files were indexed without finding one.
    FORWARD_ONLY = "forward-only"
    #: Defined nowhere in the ``total`` indexed files.
    NOWHERE = "nowhere"
    #: ``context`` (defined at ``file``:``line``) has no member ``symbol`` in any configuration.
    NO_MEMBER = "no-member"
    #: ``symbol`` is defined more than once in what the compile reads: ``places``.
    REDEFINED = "redefined"
    #: The header has no include guard: ``macro`` is the one the fix adds.
    NO_INCLUDE_GUARD = "no-include-guard"
    #: The header has the include guard ``macro``, yet including it twice defines ``symbol`` again.
    GUARD_INCOMPLETE = "guard-incomplete"
    #: ``symbol`` (a file name) exists at ``places`` (of ``total``) but not on the include path.
    INCLUDE_NOT_ON_PATH = "include-not-on-path"
    #: No file ``symbol`` exists (``verified`` False when only part of the tree was listed).
    NO_SUCH_FILE = "no-such-file"
    #: An ``#error`` at ``file``:``line`` stopped the compile.
    ERROR_DIRECTIVE = "error-directive"
    #: A static function (or, UNUSED_STATIC_DATA, other definition) in a header is unused under -Werror.
    UNUSED_STATIC_FUNCTION = "unused-static-function"
    UNUSED_STATIC_DATA = "unused-static-data"
    #: hdrtest failed while explaining the error (``reason``): nothing is established, ``verified`` is False.
    NOT_EXPLAINED = "not-explained"


@dataclass(frozen=True)
class Diagnosis:
    """What an explanation established about an error, as data; its notes are renderings of it
    (``explain.render.notes_for``)."""

    kind: DiagnosisKind
    symbol: str
    #: The definition (or declaration, or directive) the explanation names: path as shown, 1-based line.
    file: str | None = None
    line: int | None = None
    #: Its presence condition, as a C preprocessor expression (None when unconditional).
    guard: str | None = None
    #: The guard's macros and their values in this configuration (None: not defined; "?" unknown).
    values: tuple[tuple[str, str | None], ...] = ()
    #: The ``#include`` line's spelling that brings it in (``<stddef.h>``).
    include: str | None = None
    #: The stub offered for an ``#else`` (None when none can be: see the notes).
    stub: str | None = None
    verified: bool = True
    #: Why it is not verified ("could not list macros: ...").
    reason: str | None = None
    #: What ``symbol`` belongs to: the struct or union of a member (``struct stats``).
    context: str | None = None
    #: Further places (path as shown, line; 0 when none) the explanation names, and how many there are in all.
    places: tuple[tuple[str, int], ...] = ()
    total: int = 0
    #: A macro the explanation names: the include guard the header has, or the one its fix adds.
    macro: str | None = None
    #: The tagged type the explanation is about when ``symbol`` is a typedef of it (``struct fwd``).
    target: str | None = None
    #: The file that does not include ``file``: the one using the name, where ``include`` goes, or for
    #: CONDITIONAL the checked header (None when it does include ``file``).
    header: str | None = None
    #: STANDARD_HEADER: the compile reads ``file``, but not the branches that define the name.
    partly_read: bool = False
    #: NOT_INCLUDED: how many files next to ``header`` include ``include``, which reaches ``file`` (0: not
    #: chosen by that habit).
    neighbours: int = 0
    #: The line the offered edit inserts before: ``include`` in ``header``, or ``stub`` in ``file``.
    edit_line: int | None = None
    #: CONDITIONAL: the ``#if`` chain hiding the definition (its first and ``#endif`` lines), the guard of the
    #: branch holding it, and whether a stub needs a new ``#else``.
    block: tuple[int, int] | None = None
    block_guard: str | None = None
    needs_else: bool = False
    #: A stub that is not offered, because it uses ``blockers``, names that exist only where the guard holds.
    refused_stub: str | None = None
    blockers: tuple[str, ...] = ()
    #: ``file`` is outside the checked tree: hdrtest offers no edit of it.
    outside: bool = False
    #: A forward declaration the compile reads where a complete type is needed (a FORWARD_ONLY record).
    forward: Diagnosis | None = None
    #: Beside a CONDITIONAL definition, the one elsewhere that has no condition (NOT_INCLUDED or STANDARD_HEADER).
    also: Diagnosis | None = None

    def __post_init__(self) -> None:
        # Records come back from JSON (the result cache) with strings and lists: one canonical form.
        object.__setattr__(self, "kind", DiagnosisKind(self.kind))
        object.__setattr__(self, "values", tuple((str(n), v) for n, v in self.values))
        object.__setattr__(self, "places", tuple((str(f), int(n)) for f, n in self.places))
        object.__setattr__(self, "blockers", tuple(self.blockers))
        if self.block is not None:
            object.__setattr__(self, "block", (int(self.block[0]), int(self.block[1])))
        for name in ("forward", "also"):
            related = getattr(self, name)
            if isinstance(related, dict):
                object.__setattr__(self, name, Diagnosis(**related))


#: The note kinds explanations write: dropped when an explanation is redone or goes stale.
EXPLANATION_NOTE_KINDS = frozenset({"definition", "fix", "include", "triage", "explain-error"})


@dataclass
class Note:
    """An explanation attached to a diagnostic; rendered as a gcc-style ``note:``."""

    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    #: "definition", "condition", "fix", "include", "triage", ...
    kind: str = "note"
    #: A suggested edit as unified diff text, when the note proposes one.
    fix_diff: str | None = None


@dataclass
class Diagnostic:
    """A compiler diagnostic as a record."""

    file: str  # path as shown (relative to the root when inside it)
    line: int
    column: int
    severity: str  # "error", "warning", "note", "fatal error"
    message: str
    option: str | None = None
    #: ``(file, line)`` pairs from the outermost include to the innermost.
    include_chain: list[tuple[str, int]] = field(default_factory=list)
    children: list[Diagnostic] = field(default_factory=list)
    #: Error class from ``hdrtest.classify`` ("incomplete-type", "unknown-type", ...).
    category: str | None = None
    #: The name the diagnostic is about (type, function, identifier), when known.
    symbol: str | None = None
    notes: list[Note] = field(default_factory=list)
    abs_file: str | None = None
    #: Against a ``--baseline``: "new" or "unchanged" (SARIF's baselineState); None without one.
    baseline_state: str | None = None
    #: What the explanation established, as data (None: not explained, or a class not yet recorded so).
    diagnosis: Diagnosis | None = None

    @property
    def is_error(self) -> bool:
        return self.severity in ("error", "fatal error")


@dataclass
class Result:
    """The outcome of one ``Job``."""

    job: Job
    status: Status
    diagnostics: list[Diagnostic] = field(default_factory=list)
    #: Errors beyond ``--max-errors`` that were cut from ``diagnostics``.
    omitted_errors: int = 0
    duration: float = 0.0
    returncode: int | None = None
    command: tuple[str, ...] = ()
    raw_output: str = ""
    cached: bool = False
    #: Files the compile read (from the compiler's dependency output), for the cache.
    dependencies: tuple[str, ...] = ()
    #: Why each option of the variant was considered relevant.
    relevance: dict[str, str] = field(default_factory=dict)
    #: "real-build" / "header-test-only" / None when unknown.
    triage: str | None = None
    #: What the explanation read beyond the compile's own dependencies (the files holding the definitions it
    #: names, the neighbours whose includes it copied): path -> sha256 hex.  A cached explanation is reused only
    #: while they are unchanged.  None: the explanation rests on something unknown and is not cached.
    explained_from: dict[str, str] | None = field(default_factory=dict)


def not_verified(job: Job, reason: str) -> Result:
    """A job hdrtest could not establish a verdict for: the reason travels as a ``not-verified`` note."""
    note = Diagnostic(file=job.display, line=0, column=0, severity="note", message=reason, category="not-verified")
    return Result(job=job, status=Status.UNVERIFIED, diagnostics=[note])


@dataclass
class Skipped:
    header: str
    reason: str


@dataclass
class CheckReport:
    """Everything a report format needs."""

    root: Path
    results: list[Result]
    skipped: list[Skipped] = field(default_factory=list)
    elapsed: float = 0.0
    variants_planned: int = 0
    variants_compiled: int = 0
    cache_hits: int = 0
    #: Per header: option name -> why it was chosen.
    relevant_options: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Planning remarks a user should see (options not flipped, flips Kconfig refused).
    notes: list[str] = field(default_factory=list)
    #: Fragile uses that broke headers, most headers first (``report.rootcause``).
    root_causes: list[RootCause] = field(default_factory=list)
    #: Fragility candidates the compiler refuted: (header, option, reason) whose variant passed.
    refuted: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def failures(self) -> list[Result]:
        return [r for r in self.results if r.status.failed]

    @property
    def unverified(self) -> list[Result]:
        """Results hdrtest could not establish (the reason is a ``not-verified`` note); not failures."""
        return [r for r in self.results if r.status is Status.UNVERIFIED]

    @property
    def headers_checked(self) -> int:
        return len({(r.job.display, r.job.language) for r in self.results})

    @property
    def headers_failed(self) -> int:
        return len({(r.job.display, r.job.language) for r in self.failures})


@dataclass
class RootCause:
    """One fragile use that broke several headers: reported once, with the headers it broke.

    Established only from compiles: each grouped result is a variant that failed with an
    error at the use while the header's baseline passed.
    """

    file: str  # the fragile file, as shown
    line: int
    name: str
    option: str
    #: Why: "deep.h:4 uses a_state, defined only when defined(CONFIG_A) (a.h:4)"
    reason: str
    definitions: list[str] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)

    @property
    def headers(self) -> list[str]:
        return list(dict.fromkeys(r.job.display for r in self.results))
