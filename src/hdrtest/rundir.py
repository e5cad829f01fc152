"""What one run derives from its settings for the check and its explanations alike: where it keeps its disk
caches (symbols, scans, Kconfig), and which macros count as options."""

from __future__ import annotations

from pathlib import Path

from .compile import private_dir
from .scan.options import OptionFilter
from .settings import Settings
from .store.location import cache_dir


def run_caches(settings: Settings) -> Path:
    """The directory for this run's disk caches: the user's cache, or a private one with --no-cache."""
    return cache_dir(settings) if not settings.no_cache else private_dir()


def option_filter(settings: Settings) -> OptionFilter:
    """Which macros are configuration options: an empty ``--option-pattern`` means the default one, not none."""
    return OptionFilter.from_args([settings.option_pattern] if settings.option_pattern else [], settings.options)
