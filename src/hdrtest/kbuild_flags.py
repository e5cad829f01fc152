"""What a variant cannot establish under the build's flags: one rule, read on a variant's resolved settings.

A variant changes configuration macros only; the build also fixes the word size (``-m64``/``-m32``) and turns
options into flags (``CONFIG_FUNCTION_TRACER`` adds ``-mfentry -DCC_USING_FENTRY``, which ``asm/ftrace.h`` insists
on with an ``#error``).  A variant failure involving either may be the flag rather than the header, so it is not
established (the trust rule).  Seen on i915: ``CONFIG_FUNCTION_TRACER=y`` failed two headers at ``asm/ftrace.h:9``.
"""

from __future__ import annotations

import functools
import re
from collections import ChainMap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from .kbuild import generates_headers, source_arch
from .kconfig.values import values_from_macros
from .macros import defined_macros
from .makefile import logical_lines
from .models import Job, Variant

#: Linux options a .config flip cannot change alone: the word size comes from the build's -m64/-m32, which a
#: variant keeps, so a flip of one tests a configuration no build compiles (pt_regs of one ABI, flags of the other).
ABI_OPTIONS = frozenset({"CONFIG_64BIT", "CONFIG_32BIT", "CONFIG_X86_32", "CONFIG_X86_64"})
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
        names = set().union(*(n for _, n in stack)) | set(_CONFIG.findall(assignment.group(0)))  # name and value
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


@dataclass(frozen=True)
class Unestablished:
    """Why no verdict of a variant is established: the resolved ``options`` it changes that the build's flags fix,
    and ``where`` the Makefile assignment on the first one sits (None: the word size)."""

    options: tuple[str, ...]
    where: str | None = None

    def __str__(self) -> str:
        if self.where is None:
            return (f"it changes {', '.join(self.options)}, the word size, which the build's -m64/-m32 flags fix and "
                    "a variant keeps")
        return f"{self.options[0]} changes the flags Kbuild compiles with ({self.where})"


@dataclass(frozen=True)
class FlagRule:
    """The rule every stage asks (planning, ``variants.finish_plan``, ``check.unestablished``), on a variant's
    resolved settings (what it asked for, what the configuration system implied): does it change the word size
    (``word_size``), or an option of a flags assignment that applies in the ``baseline`` configuration or in its?"""

    lines: Sequence[FlagLine] = ()
    baseline: dict[str, str] = field(default_factory=dict)
    word_size: bool = False

    def check(self, variant: Variant) -> Unestablished | None:
        settings = (*variant.changes, *variant.implied)
        sized = [s.name for s in settings if s.name in ABI_OPTIONS] if self.word_size else []
        if sized:
            return Unestablished(tuple(dict.fromkeys(sized)))
        values = ChainMap({s.name: s.value for s in settings}, self.baseline)
        hits = (Unestablished((s.name,), line.where) for s in settings for line in self.lines
                if s.name in line.options and (line.applies(self.baseline) or line.applies(values)))
        return next(hits, None)


def rule_for(root: Path, job: Job, *, linux: bool = False) -> FlagRule:
    """The rule for variants of ``job``: in a prepared Kbuild tree at ``root``, the word size and the flags
    assignments of its Makefiles over the configuration ``job``'s flags give; elsewhere the word size in a Linux
    tree (``linux``: an ``O=`` build keeps its generated headers outside the source tree), else nothing."""
    if not generates_headers(root):
        return FlagRule(word_size=linux)
    lines = tree_flag_lines(root, source_arch(root, job.flags, job.directory))
    return FlagRule(lines, values_from_macros(defined_macros(job)), word_size=True)
