"""Reading ``compile_commands.json`` and choosing flags for a header.

A compile database has no entries for headers, so each header borrows the flags of
a translation unit: one that includes it, else the closest by directory, else (in a
kernel build's database, which also lists host programs) the closest kernel object.
Flags that belong to one translation unit (its source, ``-o``, dependency output) are
dropped, because a header check must not write anything anywhere.
"""

from __future__ import annotations

import errno
import json
import os
import shlex
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

from .errors import SetupError
from .graph.store import read_regular

#: Options whose next argument belongs to them and to one translation unit only, and
#: options naming a file the compiler writes (``-aux-info F``) or where it writes its
#: side outputs (``-dumpdir``).
_DROP_WITH_ARG = {"-o", "-MF", "-MT", "-MQ", "-x", "--serialize-diagnostics", "-main-file-name", "-aux-info",
                  "-dumpdir", "-dumpbase", "-dumpbase-ext"}
#: Options dropped alone: compile-only switches, dependency generation, and switches that
#: make gcc or clang write a file beside the output even under -fsyntax-only (stack usage,
#: coverage notes, split DWARF, saved temporaries): a header check writes nothing.
_DROP_ALONE = {"-c", "-S", "-E", "-M", "-MM", "-MD", "-MMD", "-MP", "-MG", "-fsyntax-only", "-save-temps", "--",
               "-fstack-usage", "-ftest-coverage", "--coverage", "-gsplit-dwarf", "-fsave-optimization-record"}
_DROP_PREFIX = ("-o", "-MF", "-MT", "-MQ", "-Wp,-MD", "-Wp,-MMD", "-save-temps=", "-fdiagnostics-format", "-fmax-errors",
                "-ferror-limit", "-fdump-", "-fcallgraph-info", "-fopt-info", "-ftime-trace", "-fsave-optimization-record=",
                "-fprofile-note=", "-dumpdir=", "-save-stats", "-fstack-usage=")
_WRAPPERS = {"ccache", "sccache", "distcc", "icecc"}
_SOURCE_SUFFIXES = {".c", ".cc", ".cpp", ".cxx", ".c++", ".C", ".m", ".mm", ".cu", ".S", ".s"}
_CXX_SUFFIXES = {".cc", ".cpp", ".cxx", ".c++", ".C", ".mm"}


@dataclass(frozen=True)
class CompileFlags:
    """Flags for compiling one header, borrowed from a translation unit."""

    compiler: str
    flags: tuple[str, ...]
    directory: Path
    origin: str  # human-readable: where these flags came from
    language: str = "c"  # language of the unit the flags came from


@dataclass(frozen=True)
class Entry:
    file: Path  # absolute
    directory: Path
    compiler: str
    flags: tuple[str, ...]

    @property
    def language(self) -> str:
        return "c++" if self.file.suffix in _CXX_SUFFIXES else "c"


def find_compile_commands(root: Path) -> Path | None:
    for candidate in (root / "compile_commands.json", root / "build" / "compile_commands.json"):
        if candidate.is_file():
            return candidate
    return None


def _defect(message: str, path: Path, hint: str = "regenerate the compile database") -> SetupError:
    return SetupError(message, path=path, hint=hint)


def _split_command(entry: dict[str, object], path: Path, index: int) -> list[str]:
    arguments = entry.get("arguments")
    if isinstance(arguments, list) and arguments and all(isinstance(a, str) for a in arguments):
        return [str(a) for a in arguments]
    command = entry.get("command")
    if isinstance(command, str) and command.strip():
        try:
            return shlex.split(command)
        except ValueError as exc:
            raise _defect(f"entry {index} has a 'command' that cannot be split ({exc})", path) from None
    raise _defect(f"entry {index} has neither 'arguments' nor 'command'", path,
                  "each entry needs one of them; regenerate the compile database")


def clean_flags(args: list[str], source: str | None) -> tuple[str, tuple[str, ...]]:
    """Split a compile command into (compiler, flags fit for a header check)."""
    rest = list(args)
    compiler = rest.pop(0)
    while rest and PurePath(compiler).name in _WRAPPERS:
        compiler = rest.pop(0)
    flags: list[str] = []
    skip = False
    for arg in rest:
        unit_source = source is not None and (
            arg == source or (not arg.startswith("-") and PurePath(arg).suffix in _SOURCE_SUFFIXES))
        if skip:
            skip = False
        elif arg in _DROP_WITH_ARG:
            skip = True
        elif not (arg in _DROP_ALONE or arg.startswith(_DROP_PREFIX) or unit_source):
            flags.append(arg)
    return compiler, tuple(flags)


def _check_text(raw: dict[str, object], path: Path, index: int) -> None:
    """No path or argument can hold a NUL byte: the operating system cannot take one."""
    values = [raw["file"], raw["directory"], raw.get("command")]
    arguments = raw.get("arguments")
    if isinstance(arguments, list):
        values.extend(arguments)
    if any(isinstance(v, str) and "\0" in v for v in values):
        raise _defect(f"entry {index} holds a NUL byte", path)


def load(path: Path) -> list[Entry]:
    """Parse a compile database; every defect is a one-line ``SetupError`` naming the file."""
    if path.is_dir():
        path = path / "compile_commands.json"
    try:
        text = read_regular(path)[0].decode("utf-8")
    except FileNotFoundError:
        raise SetupError("compile database not found", path=path, hint="pass -p with the file or its directory") from None
    except (OSError, UnicodeDecodeError) as exc:
        if isinstance(exc, OSError) and exc.errno == errno.EINVAL:  # a FIFO or a device: see read_regular
            raise SetupError("not a regular file", path=path,
                             hint="pass -p with compile_commands.json or its directory") from None
        raise SetupError(f"cannot read compile database: {exc.__class__.__name__}", path=path) from None
    if not text.strip():
        raise SetupError("compile database is empty", path=path, hint="regenerate it, e.g. cmake -DCMAKE_EXPORT_COMPILE_COMMANDS=ON")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _defect(f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", path) from None
    except RecursionError:
        raise _defect("JSON nested too deeply to be a compile database", path) from None
    if not isinstance(data, list):
        raise _defect("expected a JSON array of entries", path)
    if not data:
        raise SetupError("compile database has no entries", path=path, hint="build at least one object so the database lists it")
    base = path.parent.resolve()
    entries = []
    seen_dirs: set[Path] = set()
    for index, raw in enumerate(data):
        if not isinstance(raw, dict) or not isinstance(raw.get("file"), str) or not isinstance(raw.get("directory"), str):
            raise _defect(f"entry {index} lacks 'file' or 'directory'", path)
        _check_text(raw, path, index)
        directory = Path(os.path.normpath(base / raw["directory"]))  # an absolute one replaces base
        # The compiler runs there: a directory that is gone would make every header it serves an error.
        if directory not in seen_dirs and not directory.is_dir():
            raise SetupError(f"entry {index}: directory {directory} does not exist", path=path,
                             hint="build the tree again or regenerate the compile database")
        seen_dirs.add(directory)
        args = _split_command(raw, path, index)
        if not args:
            raise _defect(f"entry {index} has an empty command", path)
        source = raw["file"]
        file = Path(os.path.normpath(directory / source))
        compiler, flags = clean_flags(args, source)
        entries.append(Entry(file=file, directory=directory, compiler=compiler, flags=flags))
    return entries


#: Why a header's flags were borrowed from a kernel object that neither includes it nor sits in its
#: directory: that directory's own flags (Kbuild's ccflags-y, its -I paths) are unknown.
NEAREST_KERNEL_UNIT = "nearest kernel unit; none includes it"


#: Every way ``FlagChooser`` says why it chose a unit, last in ``Job.flags_origin``'s "unit (why)".
_WHY = frozenset({"includes it", "same directory", "parent directory", NEAREST_KERNEL_UNIT, "most common flags"})


def origin_unit(origin: str) -> str | None:
    """The unit (as shown: relative to the root when inside it) whose flags ``origin`` ("DATABASE: UNIT (WHY)")
    names, None for flags from elsewhere (``--cflags``)."""
    head, separator, why = origin.rpartition(" (")
    return head.rpartition(": ")[2] if separator and why.endswith(")") and why[:-1] in _WHY else None


def flags_are_a_guess(origin: str) -> bool:
    """Whether ``origin`` (a ``CompileFlags.origin``/``Job.flags_origin``) names borrowed kernel flags."""
    return origin.endswith(f"({NEAREST_KERNEL_UNIT})")


#: The translation units whose include closure reaches a header (every branch), from the include graph.
Includers = Callable[[Path], Sequence[Entry]]


def is_kernel_unit(entry: Entry) -> bool:
    """A Kbuild kernel object, as opposed to a host program (``scripts/**``, ``arch/*/tools``) in the same database."""
    return "-D__KERNEL__" in entry.flags or "-nostdinc" in entry.flags


class FlagChooser:
    """Chooses, per header, the flags of a translation unit that compiles it.

    First choice: a unit that includes the header (``includers``, from the include graph),
    kernel objects before host programs, then the unit closest in the tree.  A header no
    unit includes takes the closest unit by directory; failing that, in a database of a
    kernel build, the closest kernel object (a host program's flags have neither the
    kernel's include paths nor ``-D__KERNEL__``), else the flags most units share.
    """

    def __init__(self, entries: list[Entry], origin_base: Path, includers: Includers | None = None) -> None:
        self._by_dir: dict[Path, list[Entry]] = {}
        for entry in entries:
            self._by_dir.setdefault(entry.file.parent, []).append(entry)
        self._base = origin_base
        self._includers = includers
        self._kernel = [e for e in entries if is_kernel_unit(e)]
        self._frequency = Counter((e.compiler, e.flags) for e in entries)
        self._common = {lang: _most_common(entries, lang, lambda e: (e.compiler, e.flags, e.directory))
                        for lang in ("c", "c++")}

    def _closest(self, units: Sequence[Entry], header: Path, language: str) -> Entry:
        """Same language, kernel object, nearest in the tree, most shared flags; ties in database order."""
        order = {id(e): i for i, e in enumerate(units)}
        return min(units, key=lambda e: (e.language != language, not is_kernel_unit(e),
                                         -len(os.path.commonprefix([e.file.parent.parts, header.parent.parts])),
                                         -self._frequency[(e.compiler, e.flags)], order[id(e)]))

    def flags_for(self, header: Path, language: str) -> CompileFlags:
        entry, why = self._choose(header, language)
        shown = entry.file.relative_to(self._base) if entry.file.is_relative_to(self._base) else entry.file
        flags = entry.flags
        if entry.language != language:
            # -std=gnu11 on a C++ compile (or -std=c++17 on C) is an error, not a preference.
            flags = tuple(f for f in flags if not f.startswith("-std="))
        return CompileFlags(compiler=entry.compiler, flags=flags, directory=entry.directory,
                            origin=f"{shown} ({why})", language=entry.language)

    def _choose(self, header: Path, language: str) -> tuple[Entry, str]:
        """The unit whose flags ``header`` borrows, and why it was chosen."""
        units = list(self._includers(header)) if self._includers is not None else []
        if units:
            return self._closest(units, header, language), "includes it"
        for directory in (header.parent, *header.parent.parents):
            candidates = self._by_dir.get(directory)
            if candidates:
                entry = _most_common(candidates, language, lambda e: (e.compiler, e.flags))
                return entry, "same directory" if directory == header.parent else "parent directory"
        if self._kernel:
            return self._closest(self._kernel, header, language), NEAREST_KERNEL_UNIT
        return self._common[language], "most common flags"


def _most_common(units: Sequence[Entry], language: str, key: Callable[[Entry], object]) -> Entry:
    """The first unit in ``language`` (any, if none is) whose ``key`` most units share."""
    same = [e for e in units if e.language == language] or units
    best = Counter(map(key, same)).most_common(1)[0][0]
    return next(e for e in same if key(e) == best)
