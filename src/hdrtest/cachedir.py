"""Moved to ``hdrtest.store.location``; kept for ``kbuild`` until it imports it there."""

from .store.location import default_cache_dir

__all__ = ["default_cache_dir"]
