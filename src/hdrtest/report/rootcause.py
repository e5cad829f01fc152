"""Root causes: one fragile use that breaks many headers is reported once.

A failing variant is attributed to a fragile use only when the compiler established it:
the variant turns off the option of the use's reason, the header's baseline passes, and
an error of the variant is at the use (its file, at its line or naming it).  Anything
less stays a failure of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..analysis.fragility import Fragility
from ..models import Diagnostic, Result, RootCause, Status


def diagnostics_of(diags: Iterable[Diagnostic]) -> Iterable[Diagnostic]:
    """Every diagnostic, nested ones included (gcc nests an error in the preceding warning's children)."""
    for diag in diags:
        yield diag
        yield from diagnostics_of(diag.children)


def errors_at(result: Result, file: str, line: int, name: str) -> bool:
    """Whether an error of ``result`` is at the use of ``name`` at ``file:line`` (its line, or naming it there)."""
    return any(d.is_error and d.file == file and (d.line == line or name in d.message or d.symbol == name)
               for d in diagnostics_of(result.diagnostics))


def _candidates(result: Result, fragile: Mapping[tuple[str, str], Fragility]) -> list[tuple[str, Fragility]]:
    """(option, the use that made it relevant) for each option a variant's result flips."""
    job = result.job
    return [(change.name, fragile[job.display, change.name]) for change in job.variant.changes
            if (job.display, change.name) in fragile]


def group(results: Iterable[Result], fragile: Mapping[tuple[str, str], Fragility]) -> list[RootCause]:
    """Root causes over ``results``; ``fragile`` maps (header, option) to the use that made it relevant."""
    results = list(results)
    baseline_passes = {(r.job.display, r.job.language) for r in results
                       if r.job.variant.is_baseline and r.status is Status.PASS}
    causes: dict[tuple[str, int, str, str], RootCause] = {}
    for result in results:
        job = result.job
        if not result.status.failed or job.variant.is_baseline or (job.display, job.language) not in baseline_passes:
            continue
        for _, fragility in _candidates(result, fragile):
            if not errors_at(result, fragility.file, fragility.line, fragility.name):
                continue
            key = (fragility.file, fragility.line, fragility.name, fragility.option)
            cause = causes.setdefault(key, RootCause(fragility.file, fragility.line, fragility.name, fragility.option,
                                                     fragility.reason, list(fragility.definitions)))
            cause.results.append(result)
            break
    return sorted(causes.values(), key=lambda c: (-len(c.headers), c.file, c.line, c.option))


def refuted(results: Iterable[Result], fragile: Mapping[tuple[str, str], Fragility]) -> list[tuple[str, str, str]]:
    """(header, option, reason) of fragility candidates whose variant compiled: the witness did not hold."""
    return sorted({(r.job.display, option, fragility.reason) for r in results
                   if not r.job.variant.is_baseline and r.status is Status.PASS
                   for option, fragility in _candidates(r, fragile)})


def examples(headers: list[str], shown: int = 3) -> str:
    """The first ``shown`` headers, and "..." when there are more."""
    return ", ".join(headers[:shown]) + (", ..." if len(headers) > shown else "")


def summary(cause: RootCause) -> str:
    """``deep.h:4 uses a_state, ...: breaks 3 headers that include deep.h, e.g. a.h, b.h, c.h``"""
    headers = cause.headers
    noun = "header that includes" if len(headers) == 1 else "headers that include"
    values = [c for r in cause.results for c in r.job.variant.changes if c.name == cause.option]
    setting = str(values[0]) if values else cause.option
    return f"{cause.reason}: breaks {len(headers)} {noun} {cause.file}, in {setting}, e.g. {examples(headers)}"
