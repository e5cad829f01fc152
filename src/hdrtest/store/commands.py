"""Opening the run's result cache, and ``hdrtest cache stats|clear|prune``."""

from __future__ import annotations

import json
import sqlite3
from contextlib import nullcontext
from pathlib import Path

from ..errors import UsageError
from ..settings import Settings
from . import namespaces
from .database import warn_stderr
from .location import cache_path
from .results import ResultCache, context_for
from .sizes import format_size, parse_size

#: What ``hdrtest cache`` does (argparse's choices refuse anything else).
ACTIONS = ("stats", "clear", "prune")


def open_cache(settings: Settings) -> ResultCache | None:
    """The run's result cache, or None with ``--no-cache`` or when it cannot be opened (a warning says why)."""
    if settings.no_cache:
        return None
    path = cache_path(settings)
    try:
        cache = ResultCache(path, context=context_for(settings))
    except (OSError, sqlite3.Error) as exc:
        warn_stderr(f"hdrtest: warning: result cache disabled: {path}: {exc}")
        return None
    for message in cache.errors:
        warn_stderr(f"hdrtest: warning: {message}")
    cache.errors.clear()
    return cache


def command_cache(settings: Settings) -> ResultCache | nullcontext[None]:
    """``open_cache`` for a ``with`` block (the cache closes on every way out), which gives None without one."""
    return open_cache(settings) or nullcontext()


def cache_command(action: str, settings: Settings, *, max_size: str | None = None, as_json: bool = False) -> str:
    """``hdrtest cache stats|clear|prune``: the text to print."""
    path = cache_path(settings)
    if action == "prune" and max_size is None:
        raise UsageError("prune needs --max-size", path="hdrtest cache prune", hint="e.g. --max-size 500M")
    limit = parse_size(max_size) if max_size is not None else 0
    if not path.exists():
        if as_json:
            return json.dumps({"path": str(path), "entries": 0, "exists": False}) + "\n"
        return f"no result cache at {path}\n"
    try:
        cache = ResultCache(path)
    except (OSError, sqlite3.Error) as exc:
        raise UsageError(f"cannot open the result cache: {exc}", path=path) from None
    with cache:
        for message in cache.errors:
            warn_stderr(f"hdrtest: warning: {message}")
        try:
            cache.verify()  # stats from a damaged file would count what happens to be readable
            return _cache_action(cache, action, limit, as_json)
        except sqlite3.Error as exc:
            if not cache.recover(exc):
                raise UsageError(f"cache database: {exc}", path=path, hint="retry when no other hdrtest runs") from None
        return _cache_action(cache, action, limit, as_json)  # on the fresh database that replaced the damaged one


def _cache_action(cache: ResultCache, action: str, limit: int, as_json: bool) -> str:
    path = cache.path
    if action == "stats":
        stats = cache.stats()
        if as_json:
            body = {k: (str(v) if isinstance(v, Path) else v) for k, v in stats.__dict__.items()}
            return json.dumps({**body, "exists": True, "side_caches": namespaces.sizes(path.parent)},
                              indent=2) + "\n"
        return "\n".join(stats.lines() + [f"{name + '/':<12} {format_size(size)}"
                                           for name, size in namespaces.sizes(path.parent).items()]) + "\n"
    if action == "clear":
        removed = cache.clear()
        freed = namespaces.clear(path.parent)
        return (f"removed {removed} entries and {format_size(freed)} of scans, indexes and variant headers; "
                f"{format_size(cache.disk_size())} on disk ({path})\n")
    # --max-size bounds the whole directory: the results first, the side caches in what is left.
    sides = sum(namespaces.sizes(path.parent).values())
    before = cache.disk_size() + sides
    evicted = cache.prune(limit)
    freed = namespaces.prune(path.parent, max(0, limit - cache.disk_size()))
    after = cache.disk_size() + sides - freed
    return (f"evicted {evicted} least recently used entries and {format_size(freed)} of scans, indexes and "
            f"variant headers; {format_size(before)} -> {format_size(after)} on disk ({path.parent})\n")
