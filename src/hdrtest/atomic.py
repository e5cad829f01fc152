"""Moved to ``hdrtest.store.atomic``; kept for the side caches outside the store until they import it there."""

from .store.atomic import write_atomic

__all__ = ["write_atomic"]
