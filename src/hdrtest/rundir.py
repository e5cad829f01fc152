"""Where one run keeps its disk caches (symbols, scans, Kconfig): shared by the check and its explanations."""

from __future__ import annotations

from pathlib import Path

from .compile import private_dir
from .settings import Settings
from .store.location import cache_dir


def run_caches(settings: Settings) -> Path:
    """The directory for this run's disk caches: the user's cache, or a private one with --no-cache."""
    return cache_dir(settings) if not settings.no_cache else private_dir()
