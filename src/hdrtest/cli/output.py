"""Writing a report to stdout or a file, atomically."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..errors import UsageError
from ..store.atomic import replace_file


def write_report(text: str, destination: str | None) -> None:
    """Write a report; a file is replaced whole or not at all, so a failed run leaves the previous report."""
    # Names that were not UTF-8 reach here as surrogate escapes: written as \udcXX, never an encoding crash
    # (inside a JSON string that is the same escape json.dumps would write).
    data = text.encode("utf-8", "backslashreplace")
    if destination is None or destination == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    path = Path(destination)
    try:
        if path.exists() and not path.is_file():  # /dev/stdout, a FIFO: write into it, never rename over it
            with open(path, "wb") as stream:
                stream.write(data)
        else:
            replace_file(path, data, mode=0o666 & ~_umask())
    except OSError as exc:
        raise UsageError(f"cannot write report: {exc.strerror}", path=destination) from None


def _umask() -> int:
    # mkstemp creates 0600 files; a report is as readable as any file the user writes.
    mask = os.umask(0)
    os.umask(mask)
    return mask
