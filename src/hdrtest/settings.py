"""Settings: ``[tool.hdrtest]`` in pyproject.toml or ``hdrtest.toml``, overridden by the command line.

The settings file lives at the tree root; finding it also tells hdrtest where the root is,
which is what paths in reports are relative to.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import UsageError
from .graph import vcs

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]


@dataclass(frozen=True)
class Exclusion:
    pattern: str
    reason: str


@dataclass(frozen=True)
class PreludeRule:
    """Force-include ``header`` before every header whose path matches ``pattern``."""

    pattern: str
    header: str


@dataclass(frozen=True)
class Settings:
    root: Path = field(default_factory=Path.cwd)
    settings_file: Path | None = None
    paths: tuple[str, ...] = ()
    exclude: tuple[Exclusion, ...] = ()
    languages: tuple[str, ...] = ("c",)
    c_patterns: tuple[str, ...] = ("*.h",)
    cxx_patterns: tuple[str, ...] = ("*.hh", "*.hpp", "*.hxx", "*.h++")
    compile_commands: str | None = None
    cflags: tuple[str, ...] = ()
    cc: str | None = None
    cxx: str | None = None
    preludes: tuple[str, ...] = ()
    prelude_rules: tuple[PreludeRule, ...] = ()
    max_errors: int = 10
    jobs: int = 0
    timeout: float = 60.0
    check_guard: bool = False
    mode: str = "auto"
    option_pattern: str = r"CONFIG_[A-Za-z0-9_]+"
    options: tuple[str, ...] = ()
    variants: str = "default"
    seed: int = 0
    kconfig: str | None = None
    kconfig_config: str | None = None
    cache_dir: str | None = None
    no_cache: bool = False
    changed_since: str | None = None
    executor: str = "local"
    scheduler: str | None = None

    def resolve(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.root / path


_SETTINGS_NAMES = ("hdrtest.toml", "pyproject.toml")
_KEY_ALIASES = {"lang": "languages", "compile-commands": "compile_commands", "max-errors": "max_errors",
                "check-guard": "check_guard", "option-pattern": "option_pattern", "cache-dir": "cache_dir",
                "prelude": "preludes", "c-patterns": "c_patterns", "cxx-patterns": "cxx_patterns",
                "kconfig-config": "kconfig_config"}


def _read_toml(path: Path) -> dict[str, Any] | None:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"invalid TOML: {exc}", path=path, hint="fix the settings file") from None
    except OSError as exc:
        raise UsageError(f"cannot read settings: {exc.strerror}", path=path) from None
    if path.name == "pyproject.toml":
        tool = data.get("tool", {})
        section = tool.get("hdrtest") if isinstance(tool, dict) else None
        return dict(section) if isinstance(section, dict) else None
    return dict(data)


def find_settings(start: Path) -> tuple[Path, dict[str, Any]] | None:
    """The nearest settings file at or above ``start`` that has hdrtest settings."""
    directory = start if start.is_dir() else start.parent
    for candidate_dir in (directory, *directory.parents):
        for name in _SETTINGS_NAMES:
            candidate = candidate_dir / name
            if candidate.is_file():
                section = _read_toml(candidate)
                if section is not None:
                    return candidate, section
    return None


def git_toplevel(start: Path) -> Path | None:
    return vcs.toplevel(start)


def _fallback_root(start: Path, cwd: Path) -> Path:
    """Outside git and settings: the working directory, unless the paths lie elsewhere.

    Checking /usr/include/linux from /tmp must not make /tmp the tree (reports relative to
    it, searches walking it).
    """
    try:
        start.relative_to(cwd)
        return cwd
    except ValueError:
        return start if start.is_dir() else start.parent


def _as_tuple(value: Any, key: str, path: Path) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise UsageError(f"'{key}' must be a string or a list of strings", path=path)


def _from_section(section: dict[str, Any], path: Path) -> dict[str, Any]:
    values: dict[str, Any] = {}
    known = {f.name for f in fields(Settings)}
    for raw_key, value in section.items():
        key = _KEY_ALIASES.get(raw_key, raw_key.replace("-", "_"))
        if key == "exclude":
            values["exclude"] = tuple(_exclusion(item, path) for item in (value if isinstance(value, list) else [value]))
        elif key == "preludes" and isinstance(value, dict):
            values["prelude_rules"] = tuple(PreludeRule(str(k), str(v)) for k, v in value.items())
        elif key == "languages":
            values["languages"] = parse_languages(",".join(_as_tuple(value, raw_key, path)), path)
        elif key in ("paths", "cflags", "preludes", "options", "c_patterns", "cxx_patterns"):
            values[key] = _as_tuple(value, raw_key, path)
        elif key in known and key not in ("root", "settings_file"):
            values[key] = value
        else:
            raise UsageError(f"unknown setting '{raw_key}'", path=path, hint="see README for the keys hdrtest reads")
    return values


def _exclusion(item: Any, path: Path) -> Exclusion:
    if isinstance(item, str):
        return Exclusion(item, "excluded in settings")
    if isinstance(item, dict) and isinstance(item.get("path"), str):
        return Exclusion(item["path"], str(item.get("reason", "excluded in settings")))
    raise UsageError("each 'exclude' item must be a glob or {path = ..., reason = ...}", path=path)


def parse_languages(text: str, origin: object = "--lang") -> tuple[str, ...]:
    langs = []
    for part in text.split(","):
        part = part.strip().lower()
        if part in ("c", "c++", "cxx", "cpp"):
            langs.append("c" if part == "c" else "c++")
        elif part:
            raise UsageError(f"unknown language '{part}'", path=origin, hint="use c, c++ or c,c++")
    if not langs:
        raise UsageError("no language given", path=origin, hint="use c, c++ or c,c++")
    return tuple(dict.fromkeys(langs))


def load_settings(paths: list[str], overrides: dict[str, Any], cwd: Path | None = None) -> Settings:
    """Settings for a run: file values, then command-line ``overrides`` (which win)."""
    cwd = cwd or Path.cwd()
    start = Path(paths[0]) if paths else cwd
    start = start if start.is_absolute() else cwd / start
    explicit_root = overrides.pop("root", None)
    found = find_settings(start) if start.exists() else None
    values: dict[str, Any] = {}
    if found is not None:
        settings_file, section = found
        values.update(_from_section(section, settings_file))
        values["settings_file"] = settings_file
        root = settings_file.parent
    else:
        root = (git_toplevel(start) if start.exists() else None) or _fallback_root(start, cwd)
    if explicit_root:
        root = Path(explicit_root).resolve()
    values["root"] = Path(os.path.normpath(root))
    for key, value in overrides.items():
        if value is not None and value != () and value != []:
            values[key] = tuple(value) if isinstance(value, list) else value
    return replace(Settings(), **values)
