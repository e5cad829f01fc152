"""Where hdrtest's cache directory is: the default, or the run's ``--cache-dir``."""

from __future__ import annotations

import os
from pathlib import Path

from ..settings import Settings
from .namespaces import VARIANTS

#: The result database's file name inside the cache directory.
DB_NAME = "results.sqlite3"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/hdrtest``, or ``~/.cache/hdrtest``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hdrtest"


def cache_dir(settings: Settings) -> Path:
    """Where every hdrtest cache of this run lives (``--cache-dir``, else the default)."""
    return settings.resolve(settings.cache_dir) if settings.cache_dir else default_cache_dir()


def variant_dir(settings: Settings) -> Path:
    """Where the run's variant preludes go, even with ``--no-cache``: printed reproducers name them after the run."""
    return VARIANTS.directory(cache_dir(settings))


def cache_path(settings: Settings) -> Path:
    """The run's result database."""
    return cache_dir(settings) / DB_NAME
