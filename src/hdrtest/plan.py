"""Planning: which compiles to run for which headers, with which flags."""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import compdb
from .discover import Header
from .errors import UsageError
from .graph.store import GraphStore
from .models import Job
from .settings import Settings
from .toolchain import default_compiler
from .toolchain.flags import parse_flags
from .triage import UnitGraphs


@dataclass(frozen=True)
class FlagSource:
    """Where a run's flags come from: a compile database, or the command line (``settings``' ``--cflags``)."""

    chooser: compdb.FlagChooser | None
    database: Path | None
    settings: Settings

    def flags_for(self, header: Path, language: str) -> compdb.CompileFlags:
        given = (self.settings.cxx if language == "c++" else None) or self.settings.cc  # a compiler the user named wins
        cflags = self.settings.cflags
        if self.chooser is not None:
            chosen = self.chooser.flags_for(header, language)
            return compdb.CompileFlags(given or chosen.compiler, chosen.flags + cflags, chosen.directory,
                                       f"{self.database}: {chosen.origin}", chosen.language)
        return compdb.CompileFlags(given or default_compiler(language), cflags, self.settings.root,
                                   "command-line flags", language)


def compile_database(settings: Settings) -> Path | None:
    """The compile database the run reads: ``-p``'s, else one found at the root, none with only ``--cflags``."""
    if settings.compile_commands:
        database = settings.resolve(settings.compile_commands)
        if database.is_dir():
            database = database / "compile_commands.json"
        if not database.exists():
            raise UsageError("compile database not found", path=database,
                             hint="pass -p with compile_commands.json or the directory holding it")
        return database
    return None if settings.cflags else compdb.find_compile_commands(settings.root)


def flag_source(settings: Settings, store: GraphStore | None = None) -> FlagSource:
    """The run's flags; ``store`` keeps the compile database's include graphs between runs."""
    database = compile_database(settings)
    chooser = None
    if database is not None:
        entries = compdb.load(database)
        # A header's flags come first from a unit that includes it: the graph says which do.
        chooser = compdb.FlagChooser(entries, settings.root, includers=UnitGraphs(entries, store).reaching)
    return FlagSource(chooser, database, settings)


def preludes_for(header: Header, settings: Settings) -> tuple[Path, ...]:
    chosen = [settings.resolve(p) for p in settings.preludes]
    for rule in settings.prelude_rules:
        if fnmatch.fnmatchcase(header.display, rule.pattern):
            chosen.append(settings.resolve(rule.header))
    for prelude in chosen:
        if not prelude.is_file():
            raise UsageError("prelude header not found", path=prelude, hint="fix --prelude or the preludes setting")
    return tuple(dict.fromkeys(chosen))


def job_mode(mode: str, flags: Sequence[str]) -> str:
    """``auto``: compile the way the tree's own header test does.

    Linux's (``-D__KERNEL__`` in the flags) runs ``cc -S``: with -Werror, warnings gcc
    emits only past parsing (an unused static function or constant) fail the header
    there and would pass under -fsyntax-only.  Elsewhere parsing is the test.
    """
    if mode != "auto":
        return mode
    return "asm" if _kernel(tuple(flags)) else "syntax"


@functools.lru_cache(maxsize=64)
def _kernel(flags: tuple[str, ...]) -> bool:
    # Headers of one directory share one unit's flags: a kernel tree's 2,676 include/linux headers parse them once.
    return parse_flags(flags).kernel


def baseline_jobs(headers: list[Header], settings: Settings, source: FlagSource) -> list[Job]:
    jobs = []
    for header in headers:
        preludes = preludes_for(header, settings)
        for language in header.languages:
            chosen = source.flags_for(header.path, language)
            jobs.append(Job(header=header.path, display=header.display, language=language, compiler=chosen.compiler,
                            flags=chosen.flags, directory=chosen.directory, preludes=preludes,
                            check_guard=settings.check_guard, mode=job_mode(settings.mode, chosen.flags),
                            timeout=settings.timeout, flags_origin=chosen.origin))
    return jobs
