"""The compile command Kbuild's own Makefiles give one object in a variant configuration.

A variant changes configuration macros only.  When one of the options it changes also changes the flags
Kbuild compiles with (``CONFIG_FUNCTION_TRACER`` adds ``-pg -mfentry -DCC_USING_FENTRY``,
``CONFIG_MITIGATION_RETPOLINE`` adds ``-mindirect-branch=thunk-extern``), a failure under the build's flags
is not established (``kbuild_flags``).  Kbuild itself can say what the flags would be: a dry run of the
object (``make -n OBJECT``) with the variant's options on make's command line, where they override
``include/config/auto.conf``, prints the exact compile command, per-directory ``ccflags-y`` included.  A
marker define in ``KCFLAGS`` makes the command differ from the one the object was built with, so Kbuild's
``if_changed`` prints it even when the object is up to date (``-W SOURCE`` does not: the recipe also compares
commands); the marker is taken out again.  The variant's command is trusted only when the same dry run without
the variant gives the compile database's flags exactly (a build made with other ``KCFLAGS`` in its
environment, say, is not re-derived).  Nothing is written: ``-n`` runs only the recursive makes, ``-o`` keeps
the configuration files from being remade and ``prepare`` from being visited (its recursive makes do not shape the
command, and in a tree whose tools/objtool was never built the dry run of that sub-make fails and stops the run:
seen in a git worktree of a prepared tree), and the compiler probes' scratch files (``TMPOUT``) go to a private
directory.  Measured on Linux 6.12 (x86_64 defconfig + i915): 1.6-3.2 s wall, 1 s CPU per command, so only
failures are re-derived, and each command is kept in the cache for as long as the Makefiles that can change
it (the top ones, scripts/, the unit's directories) and the configuration keep their stamps.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePath

from .compdb import clean_flags, origin_unit
from .kconfig import kconfig_env_from_cmd
from .models import Job, OptionSetting
from .store.namespaces import KBUILD_COMMANDS, load_stamped, witness_stamps, write_stamped
from .toolchain.run import run

#: Make variables the configuration was made with that a dry run must see again (auto.conf.cmd records them).
_TOOL_VARIABLES = ("ARCH", "CC", "LD", "CROSS_COMPILE", "LLVM")
_SEPARATORS = frozenset({";", "&&", "||", "|", "&", "(", ")"})
_TIMEOUT = 180.0
_MARKER = "-DHDRTEST_KBUILD_DRY_RUN"
#: Ends the ``flags_origin`` of a job whose flags Kbuild gave for its variant (``origin_unit`` then reads no unit).
REDERIVED = "; flags re-derived by Kbuild's dry run for this variant"


@dataclass(frozen=True)
class Command:
    """A Kbuild compile of one object, as a compile database would hold it: the compiler and the flags fit for
    a header check (no ``-c``, ``-o``, dependency output or source)."""

    compiler: str
    flags: tuple[str, ...]


@dataclass(frozen=True)
class Underived:
    """Why no command could be had (make failed, printed no compile of the object, timed out)."""

    reason: str


def overrides(settings: Sequence[OptionSetting]) -> list[str]:
    """Make's command-line assignments for ``settings``: ``CONFIG_X=`` for an option turned off (Kbuild's
    ``ifdef``/``$(CONFIG_X)`` read an empty value as off), the value otherwise."""
    return [f"{s.name}=" if s.value == "n" else f"{s.name}={s.value}" for s in settings]


def compile_command(output: str, obj: str, source: str) -> Command | None:
    """The compile of ``obj`` from ``source`` in a dry run's ``output``: the shell command (of the recipe's
    ``;``-separated commands) whose arguments hold ``-c``, ``-o obj`` and ``source``."""
    for line in output.splitlines():
        if obj not in line or source not in line:
            continue
        try:
            lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            words = list(lexer)
        except ValueError:
            continue
        command: list[str] = []
        for word in [*words, ";"]:
            if word not in _SEPARATORS:
                command.append(word)
                continue
            if _compiles(command, obj, source):
                return Command(*clean_flags(command, source))
            command = []
    return None


def _compiles(words: Sequence[str], obj: str, source: str) -> bool:
    return "-c" in words and source in words and any(
        a == "-o" and b == obj for a, b in zip(words, words[1:], strict=False))


def rederived_job(job: Job, command: Command) -> Job:
    return replace(job, compiler=command.compiler, flags=command.flags, flags_origin=job.flags_origin + REDERIVED)


def is_rederived(job: Job) -> bool:
    return job.flags_origin.endswith(REDERIVED)


class Deriver:
    """Kbuild compile commands for variant configurations of one tree, each asked of make once per run."""

    def __init__(self, root: Path, cache_dir: Path | None = None) -> None:
        self.root = root
        self.cache_dir = cache_dir
        recorded = kconfig_env_from_cmd(root / "include" / "config" / "auto.conf.cmd")
        self._tools = [f"{name}={recorded[name]}" for name in _TOOL_VARIABLES if name in recorded]
        #: Each derivation asked of the cache or make once per run (two threads asking at once may both ask).
        self._memoized = functools.cache(self._stored)

    def command(self, job: Job) -> Command | Underived:
        """The compile command of the unit ``job`` borrowed its flags from, in ``job``'s variant configuration."""
        unit = origin_unit(job.flags_origin)
        if unit is None or PurePath(unit).suffix != ".c":
            return Underived(f"its flags come from {job.flags_origin or 'no compile database unit'}, "
                             "not from a Kbuild C object")
        base = self._memoized(unit, job.directory, ())
        if isinstance(base, Underived):
            return base
        if base.flags != job.flags:
            extra = next((f for f in (*base.flags, *job.flags) if (f in base.flags) != (f in job.flags)), "order")
            return Underived(f"Kbuild's dry run of {unit} does not give the compile database's flags "
                             f"(they differ in {extra}): the build was made another way")
        settings = (*job.variant.changes, *job.variant.implied)
        return self._memoized(unit, job.directory, tuple(sorted(settings, key=lambda s: s.name)))

    def _stored(self, unit: str, directory: Path, settings: tuple[OptionSetting, ...]) -> Command | Underived:
        """A derivation from the cache while the files that shape it keep their stamps, else made and stored."""
        if self.cache_dir is None:
            return self._derive(unit, directory, settings)
        path = KBUILD_COMMANDS.path(self.cache_dir, KBUILD_COMMANDS.key(
            str(self.root), str(directory), unit, json.dumps([str(s) for s in settings]), json.dumps(self._tools),
            os.environ.get("KCFLAGS", "")), ".json")
        witnesses = [str(p) for p in self._witnesses(unit)]
        record = load_stamped(path)
        # The same files, in the same order: a Makefile added under scripts/ since is a change too.
        if record is not None and list(record["witnesses"]) == witnesses and "flags" in record:
            return Command(str(record["compiler"]), tuple(str(f) for f in record["flags"]))
        # Taken before make runs: a Makefile edited meanwhile leaves the stored command stale, not trusted.
        stamps = witness_stamps(witnesses)
        made = self._derive(unit, directory, settings)
        if isinstance(made, Command):
            write_stamped(path, {"compiler": made.compiler, "flags": list(made.flags)}, stamps)
        return made

    def _witnesses(self, unit: str) -> list[Path]:
        """The files whose edit can change a unit's Kbuild command: the configuration, the top and architecture
        Makefiles, scripts/' Makefiles, and each Makefile and Kbuild file from the root down to the unit."""
        scripts = self.root / "scripts"
        found = [self.root / ".config", self.root / "include" / "config" / "auto.conf", self.root / "Makefile",
                 *sorted(scripts.glob("Makefile*")), scripts / "Kbuild.include",
                 *sorted((self.root / "arch").glob("*/Makefile"))]
        directory = self.root
        for part in PurePath(unit).parent.parts:
            directory = directory / part
            found += [directory / "Makefile", directory / "Kbuild"]
        return found

    def _derive(self, unit: str, directory: Path, settings: Sequence[OptionSetting]) -> Command | Underived:
        path = self.root / unit
        source = path.relative_to(directory) if path.is_relative_to(directory) else path
        obj = str(source.with_suffix(".o"))
        marked = " ".join(filter(None, (os.environ.get("KCFLAGS", ""), _MARKER)))
        with tempfile.TemporaryDirectory(prefix="hdrtest-kbuild-") as scratch:
            argv = ["make", "-C", str(directory), "-n", "--no-print-directory",
                    "-o", "include/config/auto.conf", "-o", "include/config/auto.conf.cmd", "-o", "prepare",
                    f"TMPOUT={scratch}/.tmp_$$$$", f"KCFLAGS={marked}", *self._tools, *overrides(settings), obj]
            try:
                done = run(argv, cwd=directory, timeout=_TIMEOUT)
            except OSError as exc:
                return Underived(f"make could not be run ({exc.strerror or exc})")
        if done.timed_out:
            return Underived(f"make -n {obj} did not finish in {_TIMEOUT:.0f} s")
        found = compile_command(done.out, obj, str(source))
        if found is not None:
            return Command(found.compiler, tuple(f for f in found.flags if f != _MARKER))
        last = next((line for line in reversed(done.err.splitlines()) if line.strip()), "")
        return Underived(f"make -n {obj} printed no compile of it in this configuration"
                         + (f" ({last.strip()[:200]})" if last else ""))

