"""Cache files written so that a concurrent reader never sees half of one.

Every on-disk cache of hdrtest (symbols, directive scans, Kconfig resolutions and
indexes) writes through here: a temporary file in the same directory, then a rename
over the final name.  A cache that cannot be written only costs time, so failures are
reported as ``False``, never raised.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` (creating its directory); False when that is not possible."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        return False
    return True
