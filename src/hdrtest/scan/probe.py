"""What a compiler searches and reads before the first line of a file, asked once per process.

The include graph needs the compiler's built-in ``#include <...>`` directories and the
headers it reads implicitly (gcc's ``stdc-predef.h``); both come from one
``cc -E -v /dev/null`` run per compiler, language and target flags.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..toolchain.run import run


@dataclass(frozen=True)
class CompilerInfo:
    """What a compiler searches and reads before the first line of a file."""

    #: Built-in ``#include <...>`` directories, in order.
    include_dirs: tuple[Path, ...] = ()
    #: Headers read implicitly before the main file (gcc's ``stdc-predef.h``).
    implicit_includes: tuple[Path, ...] = ()


def _parse_verbose_dirs(stderr: str) -> tuple[Path, ...]:
    """Directories of the ``#include <...> search starts here:`` block of ``cc -v``."""
    dirs: list[Path] = []
    inside = False
    for line in stderr.splitlines():
        if line.startswith("#include <...> search starts here:"):
            inside = True
        elif line.startswith("End of search list."):
            break
        elif inside and line.startswith(" "):
            text = line.strip()
            if text.endswith("(framework directory)"):
                continue  # macOS frameworks need a different lookup; not supported
            dirs.append(Path(os.path.normpath(text)))
    return tuple(dirs)


_LINEMARKER = re.compile(r'^# \d+ "([^"<>]+)" 1(?: |$)', re.M)


def _parse_implicit(stdout: str) -> tuple[Path, ...]:
    """Files entered before the main file, from ``-E`` linemarkers (flag 1: entering)."""
    found = [Path(os.path.normpath(m.group(1))) for m in _LINEMARKER.finditer(stdout)]
    return tuple(dict.fromkeys(p for p in found if str(p) != os.devnull))


@functools.lru_cache(maxsize=None)
def probe_compiler(compiler: str, language: str = "c", flags: tuple[str, ...] = ()) -> CompilerInfo:
    """Ask ``compiler -E -x LANG -v /dev/null`` once per process what it searches and reads.

    ``flags`` are the options that change the answer (``--sysroot``, ``--target``,
    ``-m32``, ``-ffreestanding``...).  A compiler that cannot be run yields an empty
    answer rather than an exception: the graph then misses system headers, which only
    costs precision.
    """
    try:
        proc = run([compiler, *flags, "-E", "-x", language, "-v", os.devnull], timeout=60)
    except OSError:
        return CompilerInfo()
    return CompilerInfo() if proc.timed_out else CompilerInfo(_parse_verbose_dirs(proc.err), _parse_implicit(proc.out))

