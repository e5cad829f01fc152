"""Sizes as users write them (``--max-size 500M``) and as ``hdrtest cache`` prints them."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

from ..errors import UsageError

#: K, KiB: 1024; KB: 1000 (and on to T).
_UNITS = {"": 1, "B": 1, **{prefix + suffix: base ** power for power, prefix in enumerate("KMGT", 1)
                            for suffix, base in (("", 1024), ("IB", 1024), ("B", 1000))}}


def parse_size(text: str) -> int:
    """``"500M"``, ``"2GiB"``, ``"1.5G"``, ``"100000"`` -> bytes (K/M/G are binary, KB/MB/GB decimal)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    unit = match.group(2).upper() if match else ""
    if match is None or unit not in _UNITS:
        raise UsageError(f"'{text}' is not a size", path="--max-size", hint="write e.g. 500M, 2G or 100000")
    return int(float(match.group(1)) * _UNITS[unit])


def format_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def files_under(path: Path) -> Iterator[tuple[str, os.stat_result]]:
    """Every file under ``path`` and its ``lstat`` (files that vanish meanwhile are left out)."""
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                yield os.path.join(dirpath, name), os.lstat(os.path.join(dirpath, name))
