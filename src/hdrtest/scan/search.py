"""gcc's include search chain, and resolving an ``#include`` spelling through it.

The chain is built from compile flags (parsed by ``toolchain.flags``) plus the
compiler's own directories (``probe``); lookups are memoised per chain because a
graph resolves the same spellings from thousands of files.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..toolchain.flags import parse_flags
from .probe import CompilerInfo, probe_compiler

__all__ = ["SearchPath"]


@dataclass
class SearchPath:
    """gcc's search chain: quote dirs, then -I, then system, then -idirafter."""

    quote_dirs: tuple[Path, ...] = ()  # -iquote
    include_dirs: tuple[Path, ...] = ()  # -I
    system_dirs: tuple[Path, ...] = ()  # -isystem
    builtin_dirs: tuple[Path, ...] = ()  # the compiler's own
    #: Read before everything else without being asked for (gcc's stdc-predef.h).
    implicit_includes: tuple[Path, ...] = ()
    after_dirs: tuple[Path, ...] = ()  # -idirafter
    #: ``-include`` files in order, as spelled (see ``forced_include_paths``).
    forced_includes: tuple[str, ...] = ()
    #: ``-imacros`` files: only their macros matter, but they are read first.
    macro_includes: tuple[str, ...] = ()
    nostdinc: bool = False
    sysroot: Path | None = None
    directory: Path = Path(".")
    compiler: str | None = None
    language: str = "c"
    _cache: dict[tuple[str, bool, str], Path | None] = field(
        default_factory=dict, compare=False, repr=False
    )
    _isfile: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_flags(
        cls,
        flags: Sequence[str],
        directory: Path,
        compiler: str | None = None,
        language: str | None = None,
    ) -> SearchPath:
        """Build the chain from compile flags; relative directories are taken from ``directory``.

        ``compiler`` is asked for its built-in directories (once per compiler, language
        and target flags); without one only the flags' directories are searched.
        ``language`` defaults to the flags' ``-x`` or ``"c"``.
        """
        directory = Path(os.path.abspath(directory))
        parsed = parse_flags(flags)
        root = Path(os.path.normpath(directory / parsed.sysroot)) if parsed.sysroot else None

        def absolute(d: str) -> Path:
            # "=dir" and "$SYSROOT/dir" are relative to the sysroot (gcc).
            if root is not None and d.startswith("="):
                d = str(root) + d[1:]
            elif root is not None and d.startswith("$SYSROOT"):
                d = str(root) + d[len("$SYSROOT") :]
            return Path(os.path.normpath(directory / d))

        lang = language or parsed.language or "c"
        info = CompilerInfo()
        if compiler is not None and not parsed.nostdinc:
            probe = parsed.target_flags_in(directory)
            info = probe_compiler(compiler, "c++" if lang.startswith("c++") else "c", probe)
        return cls(
            quote_dirs=tuple(absolute(d) for d in parsed.quote_dirs),
            include_dirs=tuple(absolute(d) for d in parsed.include_dirs),
            system_dirs=tuple(absolute(d) for d in parsed.system_dirs),
            builtin_dirs=info.include_dirs,
            implicit_includes=info.implicit_includes,
            after_dirs=tuple(absolute(d) for d in parsed.after_dirs),
            forced_includes=parsed.forced_includes,
            macro_includes=parsed.macro_includes,
            nostdinc=parsed.nostdinc,
            sysroot=root,
            directory=directory,
            compiler=compiler,
            language=lang,
        )

    # -- chains ------------------------------------------------------------

    def angled_chain(self) -> tuple[Path, ...]:
        """Directories for ``#include <...>``, in order, duplicates removed like gcc."""
        system = _dedupe(self.system_dirs + self.builtin_dirs)
        system_set = set(system)
        # gcc: a directory given both with -I and as a system directory is searched as
        # a system directory only, at the system position.
        user = tuple(d for d in _dedupe(self.include_dirs) if d not in system_set)
        return _dedupe(user + system + self.after_dirs)

    def quote_chain(self) -> tuple[Path, ...]:
        """Directories for ``#include "..."`` after the including file's own directory."""
        return _dedupe(self.quote_dirs + self.angled_chain())

    def key(self) -> tuple[object, ...]:
        """A hashable identity of the chain (for caches keyed by search path)."""
        return (
            self.quote_chain(),
            self.angled_chain(),
            self.forced_includes,
            self.macro_includes,
            str(self.directory),
        )

    # -- resolution -------------------------------------------------------

    def _exists(self, path: str) -> bool:
        found = self._isfile.get(path)
        if found is None:
            found = os.path.isfile(path)
            self._isfile[path] = found
        return found

    def _search(self, spelling: str, dirs: Iterable[Path]) -> Path | None:
        for d in dirs:
            candidate = os.path.normpath(os.path.join(d, spelling))
            if self._exists(candidate):
                return Path(candidate)
        return None

    def resolve(self, spelling: str, angled: bool, including_file: Path | str | None = None) -> Path | None:
        """The file ``#include "spelling"`` (or ``<spelling>``) in ``including_file`` names."""
        if os.path.isabs(spelling):
            p = os.path.normpath(spelling)
            return Path(p) if self._exists(p) else None
        here = "" if angled or including_file is None else os.path.dirname(os.path.abspath(including_file))
        key = (spelling, angled, here)
        if key in self._cache:
            return self._cache[key]
        result: Path | None = None
        if here:
            result = self._search(spelling, (Path(here),))
        if result is None:
            result = self._search(spelling, self.angled_chain() if angled else self.quote_chain())
        self._cache[key] = result
        return result

    def resolve_next(self, spelling: str, angled: bool, including_file: Path | str) -> Path | None:
        """``#include_next``: search the chain after the directory the includer was found in."""
        chain = self.quote_chain()
        including = os.path.abspath(including_file)
        for i, d in enumerate(chain):
            if including.startswith(str(d).rstrip(os.sep) + os.sep):
                return self._search(spelling, chain[i + 1 :])
        # Not found through the chain (e.g. the main file): gcc treats it as #include.
        return self.resolve(spelling, angled, including_file)

    def forced_include_paths(self) -> list[Path | None]:
        """``-include`` files resolved: the working directory first, then the quote chain."""
        out: list[Path | None] = []
        for spelling in self.forced_includes:
            candidate = os.path.normpath(os.path.join(self.directory, spelling))
            out.append(Path(candidate) if self._exists(candidate) else self.resolve(spelling, False, None))
        return out


def _dedupe(dirs: Iterable[Path]) -> tuple[Path, ...]:
    seen: set[Path] = set()
    out = []
    for d in dirs:
        if d not in seen:
            seen.add(d)
            out.append(d)
    return tuple(out)

