"""Compiling one header alone: the unit of work every executor runs.

``compile_job`` is a plain function of picklable records so that a thread, a process
or a Dask worker can run it.  It writes only into a private temporary directory (the
variant prelude and the dependency file), never next to the sources.
"""

from __future__ import annotations

import atexit
import functools
import itertools
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import diagnostics as diag
from .models import Diagnostic, Job, Result, Status, Variant
from .store.atomic import replace_file
from .store.location import default_cache_dir
from .store.namespaces import VARIANTS
from .toolchain import probe, run

_private_dir: Path | None = None
#: Names each compile's dependency file (next() on a count is atomic under the GIL).
_job_numbers = itertools.count()


@dataclass(frozen=True)
class CompileOptions:
    root: Path
    max_errors: int = 10
    #: The run's cache directory's ``variants`` namespace (None: the default cache directory's).  A field,
    #: not a global, so that a Dask worker gets it with the job.
    variant_dir: Path | None = None


def private_dir() -> Path:
    """A per-process scratch directory outside the source tree, removed at exit."""
    global _private_dir
    if _private_dir is None or not _private_dir.exists():
        _private_dir = Path(tempfile.mkdtemp(prefix="hdrtest-"))
        atexit.register(shutil.rmtree, _private_dir, True)
    return _private_dir


def scratch_deps_file() -> Path:
    """A fresh name for one compile's dependency file, in the private directory (the caller removes it)."""
    return private_dir() / f"deps-{next(_job_numbers)}.d"


def variant_prelude_text(variant: Variant) -> str:
    lines = [f"/* hdrtest variant: {variant.describe()} */"]
    for name, value in variant.defines:
        lines.append(f"#undef {name}")
        if value is not None:
            lines.append(f"#define {name} {value}")
    if variant.prelude_text:
        lines.append(variant.prelude_text.rstrip("\n"))
    return "\n".join(lines) + "\n"


def _variant_dir(base: Path | None) -> Path:
    """Variant headers outlive the run so that printed reproducers keep working."""
    base = base or VARIANTS.directory(default_cache_dir())
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError:
        return private_dir()
    return base if os.access(base, os.W_OK) else private_dir()


def variant_prelude(variant: Variant, directory: Path | None) -> Path | None:
    if not variant.defines and not variant.prelude_text:
        return None
    text = variant_prelude_text(variant)
    # Not fanned out like the other namespaces' files: a reproducer names this path, so it stays short.
    path = _variant_dir(directory) / f"variant-{VARIANTS.key(text)[:16]}.h"
    if not path.exists():
        replace_file(path, text.encode("utf-8"), mode=0o644)  # whoever pastes the reproducer reads it
    return path


def build_command(job: Job, *, json_diagnostics: bool, deps_file: Path | None, variant_dir: Path | None,
                  compiler_path: str | None = None) -> list[str]:
    """The compile line: the header is the only thing the empty main file includes.

    ``variant_dir``: the run's ``variants`` namespace (``CompileOptions.variant_dir``), named
    by every caller so that no variant prelude lands outside the run's cache directory.
    """
    command = [compiler_path or job.compiler, *job.flags]
    command += ["-S", "-o", os.devnull] if job.mode == "asm" else ["-fsyntax-only"]
    if json_diagnostics:
        command.append("-fdiagnostics-format=json")
    if deps_file is not None:
        command += ["-MD", "-MF", str(deps_file)]
    return command + main_inputs(job, variant_dir)


def main_inputs(job: Job, variant_dir: Path | None, *, header: bool = True) -> list[str]:
    """The empty main file and the forced includes: preludes, the variant, the header (twice for the guard;
    not at all without ``header``, for a probe of the configuration the header is compiled in)."""
    variant_file = variant_prelude(job.variant, variant_dir)
    headers = [job.header] * ((2 if job.check_guard else 1) if header else 0)
    return _main_file(job.language, [*job.preludes, *([variant_file] if variant_file else []), *headers])


def _main_file(language: str, forced: list[Path]) -> list[str]:
    """The empty main file in ``language``, with ``forced`` included before it."""
    return ["-x", language, os.devnull, *(word for path in forced for word in ("-include", str(path)))]


def _deps_past_missing_files(job: Job, compiler_path: str, variant_dir: Path | None) -> tuple[str, ...]:
    """What a compile that stopped at a missing file read, from a ``-M -MG`` run.

    gcc and clang write no dependency list after a fatal error, so such a failure could
    never be cached.  ``-MG`` lists what is missing instead of stopping: the files that
    exist are what the verdict depends on (a superset: preprocessing goes on past the
    stop), and the cache watches every directory a missing include could appear in.
    """
    listed = _listed(compiler_path, job.flags, job.directory, main_inputs(job, variant_dir), job.timeout) or ()
    # A missing file is listed as spelled, resolved here against the working directory.
    return tuple(d for d in listed if os.path.isfile(d))


def _listed(compiler_path: str, flags: tuple[str, ...], directory: Path, inputs: list[str],
            timeout: float) -> tuple[str, ...] | None:
    """The files a ``-M -MG`` run over ``inputs`` lists, or None when it fails."""
    deps_file = scratch_deps_file()
    try:
        done = _run([compiler_path, *flags, "-M", "-MG", "-MF", str(deps_file), *inputs], directory, timeout)
        return read_deps(deps_file, directory) if done[0] == 0 else None
    finally:
        deps_file.unlink(missing_ok=True)


@functools.lru_cache(maxsize=256)
def _read_by_preludes(compiler_path: str, flags: tuple[str, ...], directory: Path, language: str,
                      preludes: tuple[Path, ...], timeout: float) -> frozenset[str] | None:
    """Real paths of the files the preludes read (once per set of flags), or None when that is unknown."""
    listed = _listed(compiler_path, flags, directory, _main_file(language, list(preludes)), timeout)
    return frozenset(os.path.realpath(d) for d in listed) if listed is not None else None


def _vacuous(job: Job, compiler_path: str) -> Diagnostic | None:
    """Why a pass after the preludes says nothing about the header alone, or None.

    An umbrella prelude (GLib's ``glib.h``) that already includes the header has
    compiled it before the check's ``-include``; the guard then makes that a no-op.
    """
    if not job.preludes:
        return None
    read = _read_by_preludes(compiler_path, job.flags, job.directory, job.language, job.preludes, job.timeout)
    if read is None:
        reason = "could not list what the prelude includes, so whether it already includes this header is unknown"
    elif os.path.realpath(job.header) in read:
        names = ", ".join(p.name for p in job.preludes)
        reason = (f"the prelude ({names}) already includes this header, so compiling it after the prelude does not "
                  f"show that it compiles on its own")
    else:
        return None
    return Diagnostic(file=job.display, line=0, column=0, severity="note", category="not-verified",
                      message=f"not verified: {reason}")


def display_command(job: Job, variant_dir: Path | None = None) -> tuple[str, ...]:
    """The command a user can paste to reproduce the check (without hdrtest's own plumbing)."""
    return tuple(build_command(job, json_diagnostics=False, deps_file=None, variant_dir=variant_dir))


def _run(command: list[str], cwd: Path, timeout: float) -> tuple[int | None, str, bool]:
    """Run the compiler; (returncode, output, timed_out).  A compiler that cannot start is an ERROR result."""
    try:
        done = run.run(command, cwd=cwd, timeout=timeout, merge_stderr=True)
    except OSError as exc:
        return 127, f"{command[0]}: cannot run: {exc}", False
    # surrogateescape: a file name that is not UTF-8 maps back to the path the compiler read, and matches the
    # header's own name (reports escape both alike).
    output = done.stdout.decode("utf-8", "surrogateescape")
    if done.truncated:
        output += f"\n[hdrtest: output cut at {run.OUTPUT_LIMIT // (1024 * 1024)} MiB]\n"
    return done.returncode, output, done.timed_out


#: A word of a make rule: a run of non-blanks, where "\\ " is a space inside a file name.
_DEP_WORD = re.compile(r"(?:\\ |\S)+")


def read_deps(path: Path, cwd: Path) -> tuple[str, ...]:
    """Files listed in a make-style dependency file, as absolute paths.

    Runs once per compile on lists of a thousand kernel headers, hence regular
    expressions over the whole text rather than a loop over characters.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ()
    _, _, rest = text.replace("\\\n", " ").partition(": ")
    base = str(cwd)
    seen: dict[str, None] = {}
    for word in _DEP_WORD.findall(rest):
        if "\\" in word or "$$" in word:
            word = word.replace("\\ ", " ").replace("\\#", "#").replace("$$", "$")
        if word != os.devnull:
            seen[os.path.normpath(os.path.join(base, word))] = None
    return tuple(seen)


def _cut(records: list[Diagnostic], max_errors: int) -> tuple[list[Diagnostic], int]:
    """The first ``max_errors`` errors and what comes before the last of them; and how many errors were cut."""
    if max_errors <= 0:
        return records, 0
    kept: list[Diagnostic] = []
    errors = 0
    for record in records:
        errors += record.is_error
        if errors < max_errors or (record.is_error and errors == max_errors):
            kept.append(record)
    return kept, max(0, errors - max_errors)


def compile_job(job: Job, options: CompileOptions) -> Result:
    """Compile ``job`` and classify the outcome; never raises for compiler failures."""
    compiler = probe(job.compiler, job.directory)
    mapper = diag.make_mapper(job.directory, options.root)
    deps_file = scratch_deps_file()
    command = build_command(job, json_diagnostics=compiler.json_diagnostics, deps_file=deps_file,
                            compiler_path=compiler.path, variant_dir=options.variant_dir)
    start = time.monotonic()
    try:
        returncode, output, timed_out = _run(command, job.directory, job.timeout)
        duration = time.monotonic() - start
        deps = read_deps(deps_file, job.directory)
    finally:
        deps_file.unlink(missing_ok=True)
    shown = display_command(job, options.variant_dir)
    if timed_out:
        return Result(job=job, status=Status.TIMEOUT, duration=duration, command=shown,
                      raw_output=diag.readable(output),
                      diagnostics=[Diagnostic(file=job.display, line=0, column=0, severity="error",
                                              message=f"compiler did not finish within {job.timeout:g} s; killed",
                                              category="timeout")])
    records: list[Diagnostic] | None = None
    text_output = output
    if compiler.json_diagnostics:
        records = diag.parse_gcc_json(output, mapper)
        header = os.path.normpath(job.header)
        if records and any(r.is_error and r.abs_file != header for r in records):
            # gcc's JSON has no include chains; a text run of the failing compile does.  An
            # error in the header itself has none to show (it is included from the command line).
            _, text_output, _ = _run([compiler.path, *shown[1:]], job.directory, job.timeout)
            diag.attach_chains(records, diag.parse_text(text_output, mapper))
    if records is None:
        records = diag.parse_text(output, mapper)
    for record in records:
        if record.category == diag.MALFORMED:
            record.file = job.display
    kept, omitted = _cut(records, options.max_errors)
    has_errors = any(r.is_error for r in records)
    readable = not any(r.category == diag.MALFORMED for r in records)
    if returncode == 0 and not has_errors:
        status = Status.PASS
        vacuous = _vacuous(job, compiler.path)
        if vacuous is not None:
            status = Status.UNVERIFIED
            kept.insert(0, vacuous)
    elif returncode is not None and returncode > 0 and has_errors and readable and \
            "internal compiler error" not in output:
        status = Status.FAIL
        if not deps:
            deps = _deps_past_missing_files(job, compiler.path, options.variant_dir)
    else:
        status = Status.ERROR
        if not has_errors:
            reason = f"killed by signal {-returncode}" if returncode is not None and returncode < 0 else \
                f"exit code {returncode} without an error diagnostic"
            kept.insert(0, Diagnostic(file=job.display, line=0, column=0, severity="error",
                                      message=f"compiler failed ({reason})", category="compiler-crash"))
    return Result(job=job, status=status, diagnostics=kept, omitted_errors=omitted, duration=duration,
                  returncode=returncode, command=shown, raw_output=diag.readable(text_output), dependencies=deps)
