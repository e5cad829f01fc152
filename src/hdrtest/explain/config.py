"""The configuration as the compiler sees it: its macros, from one ``cc -dM -E`` per flag set.

A definition's presence condition is evaluated with these values, the way the
compiler saw it; a probe that fails leaves every condition unknown.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from ..compile import main_inputs
from ..macros import dump_macros
from ..models import Job
from ..toolchain import probe

Values = dict[str, "str | None"]


#: Macro values per compile line: explaining many results of one flag set probes once.
_VALUES: dict[tuple[str, ...], Values] = {}
_VALUES_LOCK = threading.Lock()


@dataclass(frozen=True)
class ConfigProbe:
    """The configuration's macros, or why they could not be listed (then every condition is unknown)."""

    values: Values
    error: str | None = None


def probe_config(job: Job, variant_dir: Path | None = None) -> ConfigProbe:
    """The macros of the configuration the job compiled in (cached per flag set, successes only).

    A probe that fails or times out says nothing about the configuration: its error is
    returned, and the next explanation asks the compiler again.
    """
    # The job's own compile line, made to dump macros without reading the header: its inputs are
    # compile.main_inputs, so that forced includes, preludes and the variant's header (in variant_dir,
    # the run's) are exactly those of the compile being explained.
    command = [probe(job.compiler, job.directory).path, *job.flags, "-E",
               *main_inputs(job, variant_dir, header=False), "-dM"]
    key = (str(job.directory), *command)
    with _VALUES_LOCK:
        cached = _VALUES.get(key)
    if cached is not None:
        return ConfigProbe(cached)
    found, error = dump_macros(command, job.directory, job.timeout, keep_params=False)
    if error is not None:
        return ConfigProbe({}, f"could not list macros: {error}")
    values: Values = dict(found)
    with _VALUES_LOCK:
        _VALUES[key] = values
    return ConfigProbe(values)
