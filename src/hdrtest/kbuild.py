"""Regenerating the headers a Linux build derives from its configuration, per variant.

``make prepare`` writes ``include/generated/bounds.h`` and ``asm-offsets.h`` (sizes and
offsets the compiler computed for the tree's own ``.config``) and ``timeconst.h`` (from
``CONFIG_HZ``).  A variant that changes, say, ``CONFIG_DEBUG_LOCK_ALLOC`` changes
``sizeof(spinlock_t)``; with the baseline's ``SPINLOCK_SIZE`` the ``static_assert``s in
``mm_types.h`` fail although a real build of that configuration (which regenerates the
files) compiles.  Here the files are made again the way the root ``Kbuild`` makes them:
``kernel/bounds.c`` and ``arch/$(SRCARCH)/kernel/asm-offsets.c`` compiled to assembly with
the variant's macros forced in, the ``->NAME VALUE`` markers turned into ``#define``s as
``sed-offsets`` does, and ``timeconst.bc`` run through ``bc``.  Each result keeps the real
header's include guard, so putting it in the variant's forced header turns the header's
own ``#include <generated/...>`` into a no-op (the tree's files must still exist: the
preprocessor opens a file before it sees the guard, so the tree has to be prepared).
Nothing is written into the tree.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from .classify import normalise_quotes
from .compile import private_dir, read_deps, variant_prelude_text
from .diagnostics import location_line, make_mapper, parse_text
from .errors import SetupError
from .executors.local import default_jobs
from .fixes import shown_path
from .kconfig import kconfig_env_from_cmd
from .models import Diagnostic, Job, Result, Status, Variant, not_verified
from .scan.scancache import read_bytes
from .store.namespaces import GENERATED, load_stamped, witness_stamps, write_stamped
from .toolchain import probe
from .toolchain.flags import parse_flags
from .toolchain.run import finished

Defines = tuple[tuple[str, str | None], ...]

BOUNDS = "bounds.h"
ASM_OFFSETS = "asm-offsets.h"
TIMECONST = "timeconst.h"

_ASCII = re.compile(r'^\s*\.ascii\s*"(.*)".*$')
_COMMENT = re.compile(r"->#(.*)")
# sed's bracket expression ``[\$#]`` also matches a backslash: POSIX brackets take it literally.
_DEFINE = re.compile(r"^->([^ ]*) [\\$#]*([^ ]*) (.*)")
_ARCH_INCLUDE = re.compile(r"(?:^|/)arch/([^/]+)/include/?$")
_HZ_CHECK = re.compile(r"^#if HZ != \d+\n#error [^\n]*\n#endif\n", re.MULTILINE)
# Kbuild's ARCH -> SRCARCH folding (top-level Makefile), for trees whose flags do not say.
_SRCARCH = {"i386": "x86", "x86_64": "x86", "sparc32": "sparc", "sparc64": "sparc", "parisc64": "parisc",
            "sh64": "sh"}
_KBUILD_NAME_DEFINES = ("-DKBUILD_MODFILE=", "-DKBUILD_BASENAME=", "-DKBUILD_MODNAME=", "-D__KBUILD_MODNAME=")


@dataclass(frozen=True)
class Regeneration:
    """The generated headers for one variant, and what goes into its forced header."""

    #: ``(name, text)`` as Kbuild would write ``include/generated/<name>``.
    headers: tuple[tuple[str, str], ...] = ()
    #: Prelude text: the headers whose content differs from the tree's, each under its guard.
    text: str = ""
    #: Why nothing was regenerated (missing source, compile error); None on success.
    problem: str | None = None
    #: The prepare unit that does not compile, when that is the problem.
    failure: PrepareFailure | None = None


@dataclass(frozen=True)
class PrepareFailure:
    """A unit of Kbuild's prepare step (``bounds.c``, ``asm-offsets.c``) that does not compile in a variant."""

    #: Where its first error is, as an absolute path; None when the first error names no place.
    file: str | None
    line: int
    #: The first error's text after ``error:``, or the whole line when it names no place.
    message: str
    #: What a report says about the variant (it names the unit).
    reason: str


# --------------------------------------------------------------------------- pure conversions


def sed_offsets(asm: str) -> list[str]:
    """The lines Kbuild's ``sed-offsets`` prints for an assembly file.

    ``DEFINE(sym, val)`` leaves ``.ascii "->sym $val text"`` in the assembly; that becomes
    ``#define sym val /* text */``.  ``BLANK()`` (``->``) becomes an empty line and
    ``COMMENT(x)`` (``->#x``) a C comment.  Every other line is dropped.
    """
    out: list[str] = []
    for line in asm.splitlines():
        match = _ASCII.match(line)
        text = match.group(1) if match else line
        if not text.startswith("->"):
            continue
        text = _COMMENT.sub(lambda m: f"/* {m.group(1)} */", text, count=1)
        text = _DEFINE.sub(lambda m: f"#define {m.group(1)} {m.group(2)} /* {m.group(3)} */", text, count=1)
        out.append(text.replace("->", "", 1))
    return out


def offsets_header(asm: str, guard: str) -> str:
    """The header ``filechk_offsets`` writes for ``asm``, byte for byte."""
    lines = [f"#ifndef {guard}", f"#define {guard}", "/*", " * DO NOT MODIFY.", " *",
             " * This file was generated by Kbuild", " */", "", *sed_offsets(asm), "", "#endif"]
    return "\n".join(lines) + "\n"


def timeconst_prelude(text: str) -> str:
    """``timeconst.h`` made fit to be forced in before anything else.

    The real file includes ``<linux/param.h>`` and ``<linux/types.h>`` and checks
    ``HZ``; forced in first, the includes would hand the header under test types it
    forgot to include, and ``HZ`` is not defined yet.  Its macros only name ``U64_C``,
    which expands where they are used, after ``jiffies.h`` has included what it needs.
    """
    text = _HZ_CHECK.sub("", text)
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith("#include"))


def kbuild_flags(flags: Sequence[str], basename: str) -> list[str]:
    """The header's flags made into the ones Kbuild compiles ``<basename>.s`` with.

    Debug and LTO flags go (Kbuild filters ``DEBUG_CFLAGS`` and ``CC_FLAGS_LTO`` for
    ``.s`` targets; with LTO clang would write IR, not assembly), ``-Werror`` goes (the
    header's directory may warn about things ``bounds.c`` does; only values matter),
    ``-DMODULE`` goes (``bounds.c`` and ``asm-offsets.c`` are always built in, and x86's
    ``asm/tlbflush.h`` hides ``struct tlb_state``, which asm-offsets needs, from modules),
    and the per-object ``KBUILD_*`` names become the object's own, so headers in different
    directories share one regeneration.
    """
    out: list[str] = []
    for index, flag in enumerate(flags):
        if flag in ("-D", "-U") and index + 1 < len(flags) and _is_module_define(flags[index + 1]):
            continue
        if index and flags[index - 1] in ("-D", "-U") and _is_module_define(flag):
            continue  # the value of a separate -D/-U MODULE, dropped with it
        if flag.startswith(("-DMODULE", "-UMODULE")) and _is_module_define(flag[2:]):
            continue
        if flag.startswith(("-Werror", "-flto", *_KBUILD_NAME_DEFINES)):
            continue
        if flag.startswith("-g") and not flag.startswith("-gcc-toolchain"):
            continue
        out.append(flag)
    name = basename.replace("-", "_")
    out += [f'-DKBUILD_BASENAME="{name}"', f'-DKBUILD_MODNAME="{name}"', f"-D__KBUILD_MODNAME=kmod_{name}"]
    return out


def _is_module_define(text: str) -> bool:
    return text == "MODULE" or text.startswith("MODULE=")


def include_dirs(flags: Sequence[str], directory: Path) -> list[Path]:
    """``-I`` directories in order, made absolute against the compile's directory."""
    # The one flag parser, so ``-I dir``, ``-Idir`` and ``--include-directory=dir`` all count.
    return [Path(os.path.normpath(directory / d)) for d in parse_flags(flags).include_dirs]


def source_arch(root: Path, flags: Sequence[str], directory: Path) -> str | None:
    """``SRCARCH``: from the flags' ``-I.../arch/<arch>/include``, else from the recorded ARCH."""
    for path in include_dirs(flags, directory):
        match = _ARCH_INCLUDE.search(path.as_posix())
        if match and (root / "arch" / match.group(1) / "kernel").is_dir():
            return match.group(1)
    arch = kconfig_env_from_cmd(root / "include" / "config" / "auto.conf.cmd").get("ARCH")
    return _SRCARCH.get(arch, arch) if arch else None


def generated_dir(root: Path, flags: Sequence[str], directory: Path) -> Path:
    """Where the compile finds ``generated/bounds.h`` (the tree, or an ``O=`` build directory)."""
    for path in include_dirs(flags, directory):
        if (path / "generated" / BOUNDS).is_file():
            return path / "generated"
    return root / "include" / "generated"


def prelude_text(headers: Iterable[tuple[str, str]]) -> str:
    """The headers as forced-header blocks, each keeping its own include guard."""
    blocks: list[str] = []
    for name, text in headers:
        body = timeconst_prelude(text) if name == TIMECONST else text
        blocks.append(f"/* hdrtest: include/generated/{name} regenerated for this variant */\n"
                      + body.rstrip("\n") + "\n")
    return "".join(blocks)


# --------------------------------------------------------------------------- running Kbuild's steps


class _Failed(Exception):
    """A step that stops regeneration; the message is shown to the user."""

    def __init__(self, message: str, failure: PrepareFailure | None = None) -> None:
        super().__init__(message)
        self.failure = failure


def _unit_fails(unit: str, output: str, inputs: _Inputs) -> _Failed:
    error = next((d for d in parse_text(output, make_mapper(inputs.directory, inputs.root)) if d.is_error), None)
    first = location_line(error) if error is not None else _first_line(output)
    reason = f"{unit} does not compile in this variant ({first})"
    if error is None or not error.line or error.abs_file is None:
        return _Failed(reason, PrepareFailure(None, 0, first, reason))
    return _Failed(reason, PrepareFailure(error.abs_file, error.line, error.message, reason))


@dataclass(frozen=True)
class _Inputs:
    root: Path
    directory: Path
    compiler: str
    flags: tuple[str, ...]
    defines: Defines
    arch: str
    timeout: float


def _first_line(output: str) -> str:
    return next((line.strip() for line in output.splitlines() if line.strip()), "no output")


def _compile_asm(inputs: _Inputs, source: Path, basename: str, forced: str, work: Path,
                 witnesses: set[str]) -> str:
    forced_file = work / f"{basename}-forced.h"
    forced_file.write_text(forced, encoding="utf-8")
    deps = work / f"{basename}.d"
    command = [inputs.compiler, *kbuild_flags(inputs.flags, basename), "-include", str(forced_file),
               "-MD", "-MF", str(deps), "-S", "-o", "-", "-x", "c", str(source)]
    rel = shown_path(source, inputs.root)
    out = finished(command, timeout=inputs.timeout, error=_Failed, what=f"compiling {rel}", cwd=inputs.directory,
                   limit=1 << 28)
    if out.returncode != 0:
        raise _unit_fails(rel, out.err, inputs)
    if not sed_offsets(out.out):
        raise _Failed(f"no '->NAME value' markers in the assembly of {rel}")
    witnesses.update(p for p in read_deps(deps, inputs.directory) if not p.startswith(str(work)))
    return out.out


def _timeconst(root: Path, hz: str) -> str | None:
    """``timeconst.h`` for ``hz`` via the tree's bc script; None without bc (not an error)."""
    bc = shutil.which("bc")
    script = root / "kernel" / "time" / "timeconst.bc"
    if bc is None or not script.is_file():
        return None
    out = finished([bc, "-q", str(script)], timeout=30, error=_Failed, what="bc on kernel/time/timeconst.bc",
                   input=(hz + "\n").encode())
    # Past the usual "wrong HZ" guard, an #error means the script refused the value.
    if out.returncode != 0 or "#error" in _HZ_CHECK.sub("", out.out):
        raise _Failed(f"kernel/time/timeconst.bc rejects HZ={hz}: {_first_line(out.err or out.out)}")
    return out.out


def _generate(inputs: _Inputs, work: Path, witnesses: set[str]) -> tuple[tuple[str, str], ...]:
    root = inputs.root
    bounds_src = root / "kernel" / "bounds.c"
    offsets_src = root / "arch" / inputs.arch / "kernel" / "asm-offsets.c"
    for src in (bounds_src, offsets_src):
        if not src.is_file():
            raise _Failed(f"{shown_path(src, root)} not found")
    forced = variant_prelude_text(Variant(name="kbuild", defines=inputs.defines))
    headers: list[tuple[str, str]] = []
    hz = dict(inputs.defines).get("CONFIG_HZ")
    if hz is not None:
        timeconst = _timeconst(root, hz)
        if timeconst is not None:
            headers.append((TIMECONST, timeconst))
            # Kbuild makes timeconst.h before asm-offsets.s, whose headers reach jiffies.h.
            forced += timeconst_prelude(timeconst)
    bounds = offsets_header(_compile_asm(inputs, bounds_src, "bounds", forced, work, witnesses),
                            "__LINUX_BOUNDS_H__")
    # asm-offsets.c reaches <generated/bounds.h>: it must see this variant's, not the tree's.
    offsets = offsets_header(_compile_asm(inputs, offsets_src, "asm-offsets", forced + bounds, work, witnesses),
                             "__ASM_OFFSETS_H__")
    return (*headers, (BOUNDS, bounds), (ASM_OFFSETS, offsets))


# --------------------------------------------------------------------------- caching


_memory: dict[str, tuple[tuple[str, str], ...] | Regeneration] = {}
_memory_lock = threading.Lock()
_key_locks: dict[str, threading.Lock] = {}


def _cache_key(inputs: _Inputs, compiler_identity: str) -> str:
    root = inputs.root
    sources = [root / "kernel" / "bounds.c", root / "arch" / inputs.arch / "kernel" / "asm-offsets.c",
               root / "kernel" / "time" / "timeconst.bc"]
    return GENERATED.key(str(root), str(inputs.directory), compiler_identity, inputs.arch,
                         json.dumps(kbuild_flags(inputs.flags, "x")), json.dumps(list(inputs.defines)),
                         *(read_bytes(src) or b"" for src in sources))


def _disk_get(cache_dir: Path, key: str) -> tuple[tuple[str, str], ...] | None:
    """A stored result, if every file the compiles read is unchanged since."""
    data = load_stamped(GENERATED.path(cache_dir, key, ".json"))
    if data is None:
        return None
    headers = tuple((str(name), str(text)) for name, text in data.get("headers", []))
    return headers or None  # a damaged record is a miss, not "nothing to regenerate"


def _disk_put(cache_dir: Path, key: str, headers: tuple[tuple[str, str], ...], witnesses: set[str]) -> None:
    write_stamped(GENERATED.path(cache_dir, key, ".json"), {"headers": [list(h) for h in headers]},
                  witness_stamps(sorted(witnesses)))


# --------------------------------------------------------------------------- public API


def generates_headers(root: Path) -> bool:
    """A prepared Kbuild tree: its configuration-derived headers exist and so does their source."""
    return (root / "kernel" / "bounds.c").is_file() and (root / "include" / "generated" / BOUNDS).is_file()


def regenerate(root: Path, job: Job, defines: Defines, *, cache_dir: Path | None = None) -> Regeneration:
    """Kbuild's configuration-derived headers for ``job``'s flags with ``defines`` applied.

    Never raises for a tree or configuration that does not allow it: ``problem`` says why.
    ``cache_dir`` (the run's cache directory) keeps results across runs, checked against
    the files the compiles read.
    """
    root = root.resolve()
    arch = source_arch(root, job.flags, job.directory)
    if arch is None:
        return Regeneration(problem="cannot tell the kernel architecture (SRCARCH) from the flags")
    try:
        compiler = probe(job.compiler, job.directory)
    except SetupError as exc:
        return Regeneration(problem=f"compiler {job.compiler} unusable: {exc}")
    inputs = _Inputs(root, job.directory, compiler.path, job.flags, tuple(defines), arch, job.timeout)
    key = _cache_key(inputs, compiler.identity)
    with _memory_lock:
        lock = _key_locks.setdefault(key, threading.Lock())
    with lock:  # one compile per key even when several variants ask at once
        found = _memory.get(key)
        if found is None and cache_dir is not None:
            found = _disk_get(cache_dir, key)
        if found is None:
            witnesses = {compiler.path}
            with tempfile.TemporaryDirectory(prefix="kbuild-", dir=private_dir(), ignore_cleanup_errors=True) as work:
                try:
                    found = _generate(inputs, Path(work), witnesses)
                    if cache_dir is not None:
                        _disk_put(cache_dir, key, found, witnesses)
                except _Failed as exc:
                    found = Regeneration(problem=str(exc), failure=exc.failure)
        with _memory_lock:
            _memory[key] = found
    if isinstance(found, Regeneration):
        return found
    gen_dir = generated_dir(root, job.flags, job.directory)
    # Only headers whose text differs from the tree's: identical ones would change nothing.
    return Regeneration(headers=found, text=prelude_text((n, t) for n, t in found
                                                         if read_bytes(gen_dir / n) != t.encode()))


def fill_preludes(root: Path, job: Job, variants: Sequence[Variant], *, cache_dir: Path | None = None,
                  workers: int = 0) -> tuple[list[Variant], dict[str, str], dict[str, PrepareFailure]]:
    """``variants`` with ``prelude_text`` set, and, per variant name, why its headers could not be made.

    A variant in the second part cannot be checked: compiled against the headers made for
    the baseline configuration, any verdict (a ``static_assert`` on a size) would be the
    baseline's sizes talking, so the caller reports it as not verified.  In the third, a unit
    of the prepare step does not compile: see ``prepare_failed``.
    """
    todo = [index for index, variant in enumerate(variants) if variant.defines]
    with ThreadPoolExecutor(max_workers=max(1, min(workers or default_jobs(), len(todo)))) as pool:
        outcomes = dict(zip(todo, pool.map(
            lambda i: regenerate(root, job, variants[i].defines, cache_dir=cache_dir), todo)))
    filled: list[Variant] = []
    unmade: dict[str, str] = {}
    failing: dict[str, PrepareFailure] = {}
    for index, variant in enumerate(variants):
        outcome = outcomes.get(index, Regeneration())  # no defines: the tree's own headers
        if outcome.text:
            variant = replace(variant, prelude_text=outcome.text)
        if outcome.problem:
            why = ("include/generated headers (bounds.h, asm-offsets.h) could not be made for this configuration: "
                   f"{outcome.problem}")
            if outcome.failure is not None:
                failing[variant.name] = replace(outcome.failure, reason=why)
            else:
                unmade[variant.name] = why
        filled.append(variant)
    return filled, unmade, failing


def prepare_failed(result: Result, failure: PrepareFailure) -> Result:
    """A variant whose own Kbuild prepare step fails (bounds.c or asm-offsets.c does not compile in it).

    Kbuild runs a header test only after prepare, so the header test cannot pass in that
    configuration.  The header, compiled with the tree's generated headers, fails for the same
    reason when one of its errors is the prepare unit's first error: at the same line, or with
    the same message (gcc's JSON places an error met inside a macro expansion at the expansion
    point, its text output at the macro's spelling).  That unit read no stale generated header,
    so the error is not the stale sizes talking, and the failure stands.  Anything else (a pass,
    other errors, a first error that names no place) is not verified.
    """
    said = normalise_quotes(failure.message).strip()
    if result.status is Status.FAIL and failure.file is not None and any(
            d.is_error and ((d.line == failure.line and d.abs_file == failure.file) or normalise_quotes(d.message).strip() == said)
            for d in result.diagnostics):
        note = Diagnostic(file=result.job.display, line=0, column=0, severity="note", category="prepare-fails",
                          message=f"{failure.reason}; Kbuild's prepare step fails in this configuration with an error "
                                  "this header shows too")
        return replace(result, diagnostics=[*result.diagnostics, note])
    return replace(not_verified(result.job, failure.reason), duration=result.duration, command=result.command)

