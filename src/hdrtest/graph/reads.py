"""Which files a translation unit's compile reads, in a given configuration.

Triage may call a failure a real-build break only when a unit that is built reads the
header.  An ``#include`` line is not enough: curl's ``lib/config-win32.h`` is included
only under ``#ifdef _WIN32``, so no Linux compile reads it.  The answer comes from

- the build's own dependency list beside the object (Kbuild's ``.NAME.o.cmd``, a
  make-style ``NAME.d``/``NAME.o.d``), when it is newer than the source and the question
  is about the configuration the build used (the baseline); or
- a ``-M`` run of the unit with its own flags and the variant's forced header, which
  lists every file the preprocessor opened in exactly that configuration.

When neither is available the answer is unknown, and triage says so.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..compdb import Entry
from ..compile import private_dir, read_deps, scratch_deps_file, variant_prelude
from ..models import Variant
from ..toolchain.run import finished

#: Seconds one ``-M`` run of a unit may take.
TIMEOUT = 60.0
#: ``$(wildcard include/config/FOO)`` lines of a Kbuild dependency list name options, not files read.
_WILDCARD = re.compile(r"\$\(wildcard[^)]*\)")
_DEPS_LINE = re.compile(r"^deps_\S+\s*:=(?P<rest>(?:.*\\\n)*.*)$", re.MULTILINE)


@dataclass(frozen=True)
class Reads:
    """The files a unit's compile reads (absolute, normalised), or None when unknown, and from where."""

    files: frozenset[str] | None
    source: str  # "its dependency file X", "a -M run of it", or why it is unknown
    #: Whether a file missing from ``files`` was surely not read (a -MMD list omits system headers).
    complete: bool = True

    def read(self, header: Path) -> bool | None:
        if self.files is None:
            return None
        if os.path.normpath(header) in self.files:
            return True
        return False if self.complete else None


def kbuild_cmd_deps(text: str, directory: Path) -> frozenset[str] | None:
    """The ``deps_OBJ :=`` list of a Kbuild ``.OBJ.cmd`` file, relative paths taken from ``directory``."""
    match = _DEPS_LINE.search(text)
    if match is None:
        return None
    words = _WILDCARD.sub(" ", match.group("rest").replace("\\\n", " ")).split()
    return frozenset(os.path.normpath(os.path.join(directory, w)) for w in words)


def from_build(entry: Entry) -> Reads | None:
    """The build's own list for ``entry``, when one is beside the source and not older than it."""
    try:
        source_mtime = entry.file.stat().st_mtime_ns
    except OSError:
        return None
    stem = entry.file.with_suffix("")
    for path in (entry.file.parent / f".{stem.name}.o.cmd", stem.with_suffix(".o.d"), stem.with_suffix(".d")):
        try:
            if path.stat().st_mtime_ns < source_mtime:
                continue  # older than the source: it describes another text
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if path.name.endswith(".cmd"):
            files = kbuild_cmd_deps(text, entry.directory)
        else:
            files = frozenset(read_deps(path, entry.directory)) or None
        if files:
            # Built with -MMD (Kbuild does): headers in system directories are not listed.
            return Reads(files, f"its dependency file {path.name}", complete=False)
    return None


def from_preprocessor(entry: Entry, variant: Variant) -> Reads:
    """A ``-M`` run of the unit with its flags, in ``variant``; unknown when it does not preprocess."""
    deps = scratch_deps_file()
    prelude = variant_prelude(variant, private_dir())  # the header the check forces; triage knows no cache dir
    forced = ["-include", str(prelude)] if prelude is not None else []
    command = [entry.compiler, *entry.flags, *forced, "-M", "-MF", str(deps), str(entry.file)]
    try:
        done = finished(command, timeout=TIMEOUT, what="a -M run of it", cwd=entry.directory)
        if done.returncode != 0:
            lines = done.err.strip().splitlines()
            return Reads(None, "a -M run of it failed" + (f": {lines[-1]}" if lines else ""))
        files = frozenset(read_deps(deps, entry.directory))
    except ChildProcessError as exc:  # cannot start, or timed out
        return Reads(None, str(exc))
    finally:
        deps.unlink(missing_ok=True)
    return Reads(files, "a -M run of it")


@dataclass
class UnitReads:
    """What units read, per configuration, asked once per (unit, variant) and kept for the run."""

    _built: dict[Path, Reads | None] = field(default_factory=dict)
    _ran: dict[tuple[Path, Variant], Reads] = field(default_factory=dict)
    #: -M runs made (for tests and measurements).
    runs: int = 0

    def reads(self, entry: Entry, header: Path, variant: Variant, *, run_if_needed: bool = True,
              ) -> tuple[bool | None, str]:
        """Whether ``entry``'s compile in ``variant`` reads ``header``, and how that is known.

        Without ``run_if_needed`` only what is known already (a dependency file, an earlier
        run) answers; otherwise the answer is None ("not examined").
        """
        if variant.is_baseline and not variant.prelude_text:
            # The build's own list describes the configuration the build used: the baseline only.
            if entry.file not in self._built:
                self._built[entry.file] = from_build(entry)
            built = self._built[entry.file]
            if built is not None and (answer := built.read(header)) is not None:
                return answer, built.source
        key = (entry.file, variant)
        if key not in self._ran:
            if not run_if_needed:
                return None, "not examined"
            self.runs += 1
            self._ran[key] = from_preprocessor(entry, variant)
        found = self._ran[key]
        return found.read(header), found.source
