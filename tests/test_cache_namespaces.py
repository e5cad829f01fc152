"""Every side cache a run writes is a registered namespace of the run's cache directory (architecture issue 12)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import EXAMPLES, hdrtest
from test_kconfig_helper import toy  # noqa: F401  (the fixture: a Linux-shaped tree with the real scripts/kconfig)

from hdrtest.kconfig import KernelConfBackend
from hdrtest.store import namespaces
from hdrtest.store.location import DB_NAME

#: The result database and the files SQLite keeps beside it.
DATABASE = {DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", f"{DB_NAME}-journal"}

#: ``hdrtest`` with every registered namespace one version later, as an edit of its ``register`` line makes it.
BUMPED = ("import sys\n"
          "from hdrtest.store import namespaces\n"
          "for ns in namespaces.registered():\n"
          "    object.__setattr__(ns, 'version', ns.version + 1)\n"
          "from hdrtest.cli import main\n"
          "sys.exit(main(sys.argv[1:]))\n")


def files_by_namespace(cache: Path) -> dict[str, dict[Path, bytes]]:
    """Each non-empty namespace directory's files and their content."""
    found: dict[str, dict[Path, bytes]] = {}
    for ns in namespaces.registered():
        files = {p: p.read_bytes() for p in ns.directory(cache).rglob("*") if p.is_file()}
        if files:
            found[ns.name] = files
    return found


def check_args(cache: Path) -> list[str]:
    # build-on: the configuration where gvt.h passes; its Kconfig variants make it fail (a prelude per variant).
    return ["check", "-q", "--cache-dir", str(cache), "-p", "build-on", "--format", "json", "."]


def statuses(stdout: str) -> list[tuple[str, str, str]]:
    return sorted((r["header"], r["variant"]["name"], r["status"]) for r in json.loads(stdout)["results"])


@pytest.fixture
def elsewhere(tmp_path: Path) -> dict[str, str]:
    """An environment whose default cache directory is watched: nothing may land there."""
    return {"XDG_CACHE_HOME": str(tmp_path / "default-cache")}


def test_side_caches_live_in_registered_namespaces_of_the_cache_dir(tmp_path: Path, elsewhere: dict[str, str]) -> None:
    cache = tmp_path / "c"
    tree = EXAMPLES / "kvm-gvt"
    first = hdrtest(*check_args(cache), cwd=tree, env=elsewhere)
    assert first.returncode == 1, first.stderr
    ran = statuses(first.stdout)
    assert any(variant != "baseline" and status == "fail" for _, variant, status in ran)

    # Nothing but the result database and registered namespaces; nothing outside --cache-dir (no prelude of a
    # preprocessing for dedupe or of an explanation's macro probe in the default cache directory).
    registered = {ns.name for ns in namespaces.registered()}
    assert {p.name for p in cache.iterdir()} - DATABASE <= registered
    assert not [p for p in Path(elsewhere["XDG_CACHE_HOME"]).rglob("*") if p.is_file()]
    before = files_by_namespace(cache)
    assert {"scans", "relevance", "symbols", "variants", "facts"} <= set(before)

    # hdrtest cache stats counts each of them, byte for byte.
    stats = hdrtest("cache", "stats", "--json", "--cache-dir", str(cache), cwd=tmp_path, env=elsewhere)
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["side_caches"] == {
        name: sum(len(data) for data in files.values()) for name, files in before.items()}

    # One version later every entry is made again under a new key: the old ones are never read (nor changed).
    # Without the results (not a side cache) the run does the same work as the first one.
    for name in DATABASE:
        (cache / name).unlink(missing_ok=True)
    env = {**os.environ, **elsewhere}
    bumped = subprocess.run([sys.executable, "-c", BUMPED, *check_args(cache)], cwd=tree, env=env,
                            capture_output=True, text=True, timeout=300)
    assert bumped.returncode == 1, bumped.stderr
    assert statuses(bumped.stdout) == ran
    after = files_by_namespace(cache)
    for name, old in before.items():
        assert {p: after[name].get(p) for p in old} == old, name
        fresh = set(after[name]) - set(old)
        assert len(fresh) == len(old), name

    # hdrtest cache clear leaves the result database alone and no namespace behind.
    cleared = hdrtest("cache", "clear", "--cache-dir", str(cache), cwd=tmp_path, env=elsewhere)
    assert cleared.returncode == 0, cleared.stderr
    assert {p.name for p in cache.iterdir()} <= DATABASE
    stats = hdrtest("cache", "stats", "--json", "--cache-dir", str(cache), cwd=tmp_path, env=elsewhere)
    assert json.loads(stats.stdout)["side_caches"] == {}


@pytest.fixture
def bump() -> Iterator[Callable[[namespaces.Namespace], None]]:
    """Put a namespace one version later for the test, as an edit of its ``register`` line does."""
    changed: dict[namespaces.Namespace, int] = {}

    def later(ns: namespaces.Namespace) -> None:
        changed.setdefault(ns, ns.version)
        object.__setattr__(ns, "version", ns.version + 1)

    yield later
    for ns, version in changed.items():
        object.__setattr__(ns, "version", version)


@pytest.mark.linux
def test_kconfig_resolutions_live_in_the_kconfig_namespace(toy: Path, tmp_path: Path,  # noqa: F811
                                                             bump: Callable[[namespaces.Namespace], None]) -> None:
    cache = tmp_path / "c"

    def flip() -> tuple[object, set[Path]]:
        backend = KernelConfBackend(toy, toy / ".config", namespaces.KCONFIG.directory(cache), mode="helper")
        try:
            resolution = backend.flip("CONFIG_KVM_EXTERNAL_WRITE_TRACKING", "n")
        finally:
            backend.close()
        return resolution, set(namespaces.KCONFIG.directory(cache).rglob("*.json"))

    resolution, records = flip()
    assert resolution is not None and records
    assert {p.name for p in cache.iterdir()} == {"kconfig"}
    assert flip() == (resolution, records)  # answered from the stored record, none added
    bump(namespaces.KCONFIG)
    again, after = flip()
    assert again == resolution and len(after - records) == len(records)  # the old record is not read
