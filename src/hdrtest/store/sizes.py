"""Sizes as users write them (``--max-size 500M``) and as ``hdrtest cache`` prints them."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import UsageError

_UNITS = {"": 1, "B": 1, "K": 1 << 10, "KB": 1000, "KIB": 1 << 10, "M": 1 << 20, "MB": 1000 ** 2,
          "MIB": 1 << 20, "G": 1 << 30, "GB": 1000 ** 3, "GIB": 1 << 30, "T": 1 << 40, "TB": 1000 ** 4,
          "TIB": 1 << 40}


def parse_size(text: str) -> int:
    """``"500M"``, ``"2GiB"``, ``"1.5G"``, ``"100000"`` -> bytes (K/M/G are binary, KB/MB/GB decimal)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    unit = match.group(2).upper() if match else ""
    if match is None or unit not in _UNITS:
        raise UsageError(f"'{text}' is not a size", path="--max-size", hint="write e.g. 500M, 2G or 100000")
    return int(float(match.group(1)) * _UNITS[unit])


def format_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


def tree_size(path: Path) -> int:
    """Bytes in the files under ``path`` (files that vanish meanwhile count nothing)."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total
