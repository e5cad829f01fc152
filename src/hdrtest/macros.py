"""The macros a compile sees before the header: the configuration the flags give.

``cc FLAGS -dM -E -x c /dev/null -include PRELUDES`` lists every macro defined by the
command line and the forced includes (for Linux, ``kconfig.h`` pulls in
``generated/autoconf.h``), which is exactly the baseline configuration.  One run per
distinct (compiler, flags, preludes) is cached for the whole process.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence
from pathlib import Path

from .errors import SetupError
from .models import Job
from .toolchain.run import finished

_DEFINE = re.compile(r"^#define (?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<params>\([^)]*\))?(?: (?P<body>.*))?$")


def parse_dm(text: str, *, keep_params: bool = True) -> dict[str, str]:
    """``-dM`` output as name -> replacement text; function-like macros keep ``(params)`` in front of
    their body unless ``keep_params`` is false."""
    macros: dict[str, str] = {}
    for line in text.splitlines():
        match = _DEFINE.match(line)
        if match is not None:
            body = match.group("body") or ""
            params = match.group("params")
            macros[match.group("name")] = params + body if params and keep_params else body
    return macros


def dump_macros(command: Sequence[str], directory: Path, timeout: float, *,
                keep_params: bool = True) -> tuple[dict[str, str], str | None]:
    """Run a ``-dM -E`` command: its macros, or why it listed none (what that means is the caller's call)."""
    try:
        out = finished(command, timeout=timeout, what="'-dM -E'", cwd=directory)
    except ChildProcessError as exc:
        return {}, str(exc)
    if out.returncode != 0:
        return {}, (out.err.strip().splitlines() or [f"exit status {out.returncode}"])[0]
    return parse_dm(out.out, keep_params=keep_params), None


@functools.lru_cache(maxsize=256)
def _defined_macros(compiler: str, flags: tuple[str, ...], directory: Path, language: str,
                    preludes: tuple[Path, ...]) -> dict[str, str]:
    command = [compiler, *flags, "-dM", "-E", "-x", language, os.devnull]
    for prelude in preludes:
        command += ["-include", str(prelude)]
    macros, error = dump_macros(command, directory, 120)
    if error is not None:  # the check cannot plan variants without the baseline's configuration
        raise SetupError(f"cannot list the configuration macros: {error}", path=compiler,
                         hint="check the compile database or --cflags")
    return macros


def defined_macros(job: Job) -> dict[str, str]:
    """Macros in force when ``job``'s header is included (baseline variant)."""
    return dict(_defined_macros(job.compiler, job.flags, job.directory, job.language, job.preludes))
