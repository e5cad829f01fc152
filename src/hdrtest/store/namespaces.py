"""The side caches beside the result database: one registry of content-keyed namespaces.

A namespace is a directory under the cache directory whose files are named by a digest
of what they were made from, so a stale file is never read, only left unused.  The
rule for versions is the same for all: a namespace's ``version`` goes into every key
it makes (``Namespace.key``), so changing a format means bumping it, never migrating.
Files are written atomically (``store.atomic``), so removing one at any time (``clear``,
``prune``) only costs the work to make it again.

``hdrtest cache stats|clear|prune`` walk ``registered()``: a new side cache registers
here and is counted, cleared and pruned with the others.  Which directory a run uses
(``--cache-dir``, or a private one with ``--no-cache``) is the caller's: every method
takes the cache directory, and every side cache takes that directory, never its own
subdirectory, so no owner names a folder.  What a file also depends on besides its
content (an option filter, a compiler) goes into the key's parts, never into a path.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pickle
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from ..graph.store import current_stamp
from .atomic import write_atomic
from .sizes import files_under

T = TypeVar("T")


@dataclass(frozen=True)
class Namespace:
    name: str
    #: Bumped when what the namespace's files hold changes meaning: old files are then never looked up.
    version: int = 1

    def directory(self, cache_dir: Path) -> Path:
        return cache_dir / self.name

    def key(self, *parts: str | bytes) -> str:
        """The content key of what ``parts`` describe, in this namespace at its version."""
        digest = hashlib.sha256(f"{self.name}\0{self.version}".encode())
        for part in parts:
            data = part.encode("utf-8", "surrogateescape") if isinstance(part, str) else part
            digest.update(len(data).to_bytes(8, "little") + data)  # length-prefixed: parts cannot run together
        return digest.hexdigest()

    def path(self, cache_dir: Path, key: str, suffix: str) -> Path:
        """Where the file for ``key`` lives: fanned out by its first two digits to keep directories small."""
        return self.directory(cache_dir) / key[:2] / f"{key}{suffix}"


_REGISTRY: dict[str, Namespace] = {}


def register(name: str, version: int = 1) -> Namespace:
    """The namespace ``name``; registering it twice with another version is a programming error."""
    known = _REGISTRY.get(name)
    if known is not None and known.version != version:
        raise ValueError(f"cache namespace {name!r} registered as version {known.version} and {version}")
    found = _REGISTRY[name] = known or Namespace(name, version)
    return found


def registered() -> tuple[Namespace, ...]:
    return tuple(_REGISTRY.values())


def load(path: Path | None, decode: Callable[[bytes], T]) -> T | None:
    """A side cache's file decoded; None when there is none, or it is damaged (it is then made and written again)."""
    if path is None:
        return None
    try:
        return decode(path.read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError, TypeError, IndexError, KeyError):
        return None


def witness_stamps(paths: Iterable[str]) -> dict[str, list[int] | None]:
    """The stamps of the files a side-cache record was made from (None: the file does not exist), for
    ``write_stamped``; taken before the work reads them, an edit meanwhile makes the record stale, not trusted."""
    return {path: None if (stamp := current_stamp(path)) is None else list(stamp) for path in paths}


def write_stamped(path: Path, record: dict[str, Any], stamps: dict[str, list[int] | None]) -> None:
    """A JSON side-cache record that ``load_stamped`` answers only while every file in ``stamps`` keeps its stamp."""
    write_atomic(path, json.dumps({**record, "witnesses": stamps}).encode())


def load_stamped(path: Path) -> dict[str, Any] | None:
    """A record ``write_stamped`` wrote, None when there is none, it is damaged, or a file it names has changed."""
    record = load(path, json.loads)
    if not isinstance(record, dict) or not isinstance(record.get("witnesses"), dict):
        return None
    stamps: dict[str, Any] = record["witnesses"]
    return record if witness_stamps(stamps) == stamps else None


@functools.cache
def code_digest(*modules: ModuleType) -> str:
    """A key part for the source of ``modules``, the code that decides what a namespace's files hold.

    An edit to that code (a fixed corner case) is then never answered from files the old
    code made, without anyone remembering to bump a version.
    """
    digest = hashlib.sha256()
    for module in modules:
        try:
            digest.update(Path(module.__file__ or "").read_bytes())
        except OSError:
            digest.update(module.__name__.encode())
    return digest.hexdigest()


# Every side cache, in the order ``hdrtest cache stats`` lists them, registered here (not
# by their owners) so that the cache commands see them without importing their owners.
#: Include scans (``scan.scancache``).
SCANS = register("scans")
#: Each header's relevant options (``variants``).
RELEVANCE = register("relevance")
#: Each file's definitions (``scan.symbols``).
SYMBOLS = register("symbols")
#: Kconfig resolutions, the Kconfig tree index and the built kconfig-eval (``kconfig.kernel``).
KCONFIG = register("kconfig", version=2)
#: Regenerated include/generated headers (``kbuild``).
GENERATED = register("generated")
#: Variant preludes: ``compile`` writes them here so that printed reproducers keep working after the run.
VARIANTS = register("variants")
#: Per-file use facts (``analysis.facts``).
FACTS = register("facts")
#: Kbuild's compile commands of variant configurations (``kbuild_command``).
KBUILD_COMMANDS = register("kbuild-commands")


def sizes(cache_dir: Path) -> dict[str, int]:
    """Bytes in each registered namespace that exists under ``cache_dir``."""
    return {ns.name: sum(st.st_size for _, st in files_under(ns.directory(cache_dir)))
            for ns in registered() if ns.directory(cache_dir).is_dir()}


def clear(cache_dir: Path) -> int:
    """Remove every registered namespace; returns the bytes freed."""
    found = sizes(cache_dir)
    for name in found:
        shutil.rmtree(_REGISTRY[name].directory(cache_dir), ignore_errors=True)
    return sum(found.values())


def prune(cache_dir: Path, budget: int) -> int:
    """Remove the least recently used files of the namespaces until they take at most ``budget`` bytes.

    Returns the bytes freed.  A run reading a removed file meanwhile makes it again.
    """
    # atime where the file system keeps it (relatime: at least daily), else when it was written.
    files = [(max(st.st_atime, st.st_mtime), st.st_size, path)
             for ns in registered() for path, st in files_under(ns.directory(cache_dir))]
    excess = sum(size for _, size, _ in files) - budget
    freed = 0
    for _, size, path in sorted(files):
        if freed >= excess:
            break
        try:
            os.unlink(path)
        except OSError:
            continue
        freed += size
    return freed
