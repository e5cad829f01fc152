"""Cache files written so that a concurrent reader never sees half of one.

Every on-disk cache of hdrtest (symbols, directive scans, Kconfig resolutions and
indexes) writes through here: a temporary file in the same directory, then a rename
over the final name (reports too, through ``replace_file``).  A cache that cannot be
written only costs time, so ``write_atomic`` reports failures as ``False``, never raises.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def replace_file(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write ``data`` beside ``path`` and rename it over ``path`` (creating its directory); raises ``OSError``.

    ``mode``: the new file's permissions (the temporary file is created 0600).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_atomic(path: Path, data: bytes) -> bool:
    """``replace_file`` for a cache: False when that is not possible."""
    try:
        replace_file(path, data)
    except OSError:
        return False
    return True
