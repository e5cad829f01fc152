"""Settings: ``[tool.hdrtest]`` in pyproject.toml or ``hdrtest.toml``, overridden by the command line.

The settings file lives at the tree root; finding it also tells hdrtest where the root is,
which is what paths in reports are relative to.
"""

from __future__ import annotations

import math
import os
import re
import shlex
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
    variants: str = "auto"
    seed: int = 0
    kconfig: str | None = None
    kconfig_config: str | None = None
    cache_dir: str | None = None
    no_cache: bool = False
    #: Follow uses deep in each header's include closure that an option can leave undefined (issue 14).
    closure_analysis: bool = True
    changed_since: str | None = None
    executor: str = "local"
    scheduler: str | None = None

    def resolve(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.root / path


_SETTINGS_NAMES = ("hdrtest.toml", "pyproject.toml")
#: Keys spelled otherwise than their field (beyond "-" for "_", which every key may use).
_KEY_ALIASES = {"lang": "languages", "prelude": "preludes"}


#: Settings that hold one value, by the Python types a TOML value may have for the field's annotation (a
#: number may be written as an integer).
_TOML_TYPES: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,),
                                            "str | None": (str,)}
_SCALARS = {f.name: _TOML_TYPES[str(f.type)] for f in fields(Settings) if str(f.type) in _TOML_TYPES}
_TYPE_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
#: Settings that name one of a fixed set (the command line offers the same choices).
CHOICES = {"mode": ("auto", "syntax", "asm"), "executor": ("local", "dask")}


def _read_toml(path: Path) -> dict[str, Any] | None:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"invalid TOML: {exc}", path=path, hint="fix the settings file") from None
    except UnicodeDecodeError:
        raise UsageError("settings file is not UTF-8", path=path, hint="save it as UTF-8, as TOML requires") from None
    except OSError as exc:
        raise UsageError(f"cannot read settings: {exc.strerror}", path=path) from None
    tool = data.get("tool")
    # hdrtest.toml may hold its keys at the top or, copied from pyproject.toml, under [tool.hdrtest].
    if path.name == "pyproject.toml" or (isinstance(tool, dict) and "hdrtest" in tool):
        section = tool.get("hdrtest") if isinstance(tool, dict) else None
        if path.name == "hdrtest.toml" and set(data) != {"tool"}:
            raise UsageError("settings both at the top and under [tool.hdrtest]", path=path,
                             hint="keep one of the two")
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


def _fallback_root(start: Path, cwd: Path) -> Path:
    """Outside git and settings: the working directory, unless the paths lie elsewhere.

    Checking /usr/include/linux from /tmp must not make /tmp the tree (reports relative to
    it, searches walking it).
    """
    if start.is_relative_to(cwd):
        return cwd
    return start if start.is_dir() else start.parent


def _as_tuple(value: Any, key: str, path: Path) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise UsageError(f"'{key}' must be a string or a list of strings", path=path)


def _from_section(section: dict[str, Any], path: Path) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for raw_key, value in section.items():
        key = _KEY_ALIASES.get(raw_key, raw_key.replace("-", "_"))
        if key == "exclude":
            values["exclude"] = tuple(_exclusion(item, path) for item in (value if isinstance(value, list) else [value]))
        elif key == "preludes" and isinstance(value, dict):
            if not all(isinstance(v, str) for v in value.values()):
                raise UsageError(f"'{raw_key}' maps globs to header paths (strings)", path=path)
            values["prelude_rules"] = tuple(PreludeRule(str(k), str(v)) for k, v in value.items())
        elif key == "languages":
            values["languages"] = parse_languages(",".join(_as_tuple(value, raw_key, path)), path)
        elif key == "cflags":
            values[key] = split_flags(value, path, f"'{raw_key}'", "balance the quotes or use a list") \
                if isinstance(value, str) else _as_tuple(value, raw_key, path)
        elif key in ("paths", "preludes", "options", "c_patterns", "cxx_patterns"):
            values[key] = _as_tuple(value, raw_key, path)
        elif key in _SCALARS:
            values[key] = _scalar(value, key, raw_key, path)
        else:
            raise UsageError(f"unknown setting '{raw_key}'", path=path, hint="see README for the keys hdrtest reads")
    return values


def split_flags(text: str, origin: object, what: str = "--cflags", hint: str | None = None) -> tuple[str, ...]:
    """A string of flags (``--cflags``, the ``cflags`` setting) split like a shell would, without running one."""
    try:
        return tuple(shlex.split(text))
    except ValueError as exc:
        raise UsageError(f"cannot split {what}: {exc}", path=origin, hint=hint) from None


def _scalar(value: object, key: str, raw_key: str, path: Path) -> object:
    types = _SCALARS[key]
    # TOML's true/false are Python ints too: only a bool setting accepts them.
    if isinstance(value, bool) != (bool in types) or not isinstance(value, types):
        wanted = _TYPE_NAMES[types[-1]]  # (int, float) reads "a number"
        raise UsageError(f"'{raw_key}' must be {wanted}, not {value!r}", path=path)
    return float(value) if key == "timeout" and isinstance(value, (int, float)) else value


def check_values(settings: Settings, origin: dict[str, object]) -> None:
    """Values no compile can use, whether from the file or the command line; ``origin`` names where each came from."""
    def fail(key: str, message: str, hint: str | None = None) -> None:
        raise UsageError(message, path=origin.get(key, settings.settings_file or "settings"), hint=hint)

    if not math.isfinite(settings.timeout) or settings.timeout <= 0:
        fail("timeout", f"timeout must be a positive number of seconds, not {settings.timeout}")
    if settings.jobs < 0:
        fail("jobs", "jobs must be positive (0 = all cores)")
    if settings.max_errors < 0:
        fail("max_errors", "max-errors must be 0 (all) or more")
    for key, choices in CHOICES.items():
        if getattr(settings, key) not in choices:
            fail(key, f"{key} must be one of {', '.join(choices)}, not {getattr(settings, key)!r}")
    try:
        re.compile(settings.option_pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        fail("option_pattern", f"option pattern is not a regular expression: {exc}", "e.g. 'HAVE_[A-Z_]+'")


def _exclusion(item: Any, path: Path) -> Exclusion:
    if isinstance(item, str):
        return Exclusion(item, "excluded in settings")
    if isinstance(item, dict) and isinstance(item.get("path"), str) and isinstance(item.get("reason", ""), str):
        return Exclusion(item["path"], item.get("reason") or "excluded in settings")
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
        root = (vcs.toplevel(start) if start.exists() else None) or _fallback_root(start, cwd)
    if explicit_root:
        root = Path(explicit_root).resolve()
    values["root"] = Path(os.path.normpath(root))
    origin: dict[str, object] = {}
    for key, value in overrides.items():
        if value is not None and value != () and value != []:
            values[key] = tuple(value) if isinstance(value, list) else value
            origin[key] = "--" + key.replace("_", "-")
    settings = replace(Settings(), **values)
    check_values(settings, origin)
    return settings
