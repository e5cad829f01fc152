"""Options whose value changes the compile flags Kbuild's Makefiles add, which a variant cannot re-derive.

A variant changes configuration macros only; the kernel's Makefiles also turn options into
flags (``CONFIG_FUNCTION_TRACER`` adds ``-mfentry -DCC_USING_FENTRY``, which
``asm/ftrace.h`` insists on with an ``#error``).  A variant failure involving such an option
may be the missing flag rather than the header, so it is not established (the trust rule).
Seen on i915: ``CONFIG_FUNCTION_TRACER=y`` failed two headers at ``asm/ftrace.h:9``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from .makefile import logical_lines
from .models import Result, Status

_CONFIG = re.compile(r"\bCONFIG_[A-Za-z0-9_]+")
_CONDITIONAL = re.compile(r"^\s*(ifdef|ifndef|ifeq|ifneq)\b(.*)$")
_ELSE = re.compile(r"^\s*else\b(.*)$")
_ENDIF = re.compile(r"^\s*endif\b")
_ASSIGNMENT = re.compile(r"^\s*(?:export\s+|override\s+)?(?P<name>[^\s:+?!=#]+)\s*(?:\+|:|::|\?|!)?=(?P<value>.*)$")
#: The Makefiles that set the flags of every kernel object (the architecture's is added per tree).
_COMMON = ("Makefile", "scripts/Makefile.lib", "scripts/Makefile.build", "scripts/Makefile.kasan",
           "scripts/Makefile.kcsan", "scripts/Makefile.kmsan", "scripts/Makefile.ubsan", "scripts/Makefile.kcov",
           "scripts/Makefile.gcc-plugins", "scripts/Makefile.randstruct", "scripts/Makefile.extrawarn",
           "scripts/Makefile.debug", "scripts/Makefile.compiler", "scripts/Makefile.clang")


@dataclass(frozen=True)
class Test:
    """One enclosing make conditional: ``ifdef``/``ifndef``/``ifeq ($(X),y)``/``ifneq ($(X),y)`` on one option
    (``option`` None: a test not understood, possibly true), ``negated`` in its ``else`` branch."""

    option: str | None
    wants: str = "set"
    negated: bool = False

    def holds(self, values: Mapping[str, str]) -> bool:
        if self.option is None:
            return True
        value = values.get(self.option, "n")
        held = value not in ("n", "") if self.wants == "set" else (value == "y")
        return held != self.negated


@dataclass(frozen=True)
class FlagLine:
    """A Makefile assignment to a flags variable: where, the options it names, the conditionals around it."""

    where: str
    options: frozenset[str]
    tests: tuple[Test, ...]

    def applies(self, values: Mapping[str, str]) -> bool:
        return all(test.holds(values) for test in self.tests)


_SIMPLE_EQ = re.compile(r"^\s*\(\s*\$\((CONFIG_[A-Za-z0-9_]+)\)\s*,\s*y\s*\)\s*$")


def _test(kind: str, rest: str) -> Test:
    word = rest.split()
    if kind in ("ifdef", "ifndef") and len(word) == 1 and _CONFIG.fullmatch(word[0]):
        return Test(word[0], "set", negated=kind == "ifndef")
    simple = _SIMPLE_EQ.match(rest)
    if kind in ("ifeq", "ifneq") and simple:
        return Test(simple.group(1), "y", negated=kind == "ifneq")
    return Test(None)


def flag_lines(text: str, name: str) -> list[FlagLine]:
    """Every assignment to a flags variable in one Makefile, with the options and conditionals that govern it."""
    found: list[FlagLine] = []
    stack: list[tuple[Test, set[str]]] = []
    for number, line in logical_lines(text):
        conditional = _CONDITIONAL.match(line)
        if conditional:
            stack.append((_test(conditional.group(1), conditional.group(2)),
                          set(_CONFIG.findall(conditional.group(2)))))
            continue
        other = _ELSE.match(line)
        if other and stack:
            test, names = stack[-1]
            # A plain else negates the test; ``else ifdef X`` is a chain this reading does not evaluate.
            chained = bool(other.group(1).strip())
            stack[-1] = (Test(None) if chained else replace(test, negated=not test.negated),
                         names | set(_CONFIG.findall(other.group(1))))
            continue
        if _ENDIF.match(line):
            if stack:
                stack.pop()
            continue
        assignment = _ASSIGNMENT.match(line)
        if assignment is None or "flags" not in assignment.group("name").lower():
            continue
        names = set().union(*(n for _, n in stack)) | set(_CONFIG.findall(assignment.group("name")))
        names |= set(_CONFIG.findall(assignment.group("value")))
        if names:
            found.append(FlagLine(f"{name}:{number}", frozenset(names), tuple(t for t, _ in stack)))
    return found


@functools.lru_cache(maxsize=8)
def tree_flag_lines(root: Path, arch: str | None) -> tuple[FlagLine, ...]:
    """The flag assignments of a Kbuild tree's common Makefiles and its architecture's, read once per run."""
    found: list[FlagLine] = []
    for name in _COMMON + ((f"arch/{arch}/Makefile",) if arch else ()):
        try:
            found += flag_lines((root / name).read_text(encoding="utf-8", errors="replace"), name)
        except OSError:
            continue
    return tuple(found)


def flag_dependent(result: Result, lines: Sequence[FlagLine], baseline: Mapping[str, str]) -> tuple[str, str] | None:
    """(option, Makefile place) when a failing variant flipped an option that changes a flags assignment which
    applies in the baseline or in the variant configuration (``baseline``: option -> value)."""
    if result.status is not Status.FAIL or result.job.variant.is_baseline:
        return None
    settings = (*result.job.variant.changes, *result.job.variant.implied)
    variant = {**baseline, **{s.name: s.value for s in settings}}
    for setting in settings:
        for line in lines:
            if setting.name in line.options and (line.applies(baseline) or line.applies(variant)):
                return setting.name, line.where
    return None


def flag_options(lines: Sequence[FlagLine], baseline: Mapping[str, str]) -> frozenset[str]:
    """The options whose flip changes a flags assignment that applies in the baseline (``option -> value``) or
    in the flipped configuration: a variant flipping one is compiled without the flags the build would add, so
    its failure could only be reported not verified (``flag_dependent``, ``check.unestablished``)."""
    found: set[str] = set()
    for line in lines:
        for option in line.options - found:
            on = baseline.get(option, "n") not in ("n", "")
            if line.applies(baseline) or line.applies({**baseline, option: "n" if on else "y"}):
                found.add(option)
    return frozenset(found)
