"""Knowing the compiler: where it is, what it is, which diagnostics format it speaks."""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import SetupError
from .run import finished, run


@dataclass(frozen=True)
class Compiler:
    command: str  # as given (name or path)
    path: str  # resolved executable
    family: str  # "gcc", "clang" or "unknown"
    version: str  # first line of --version
    json_diagnostics: bool  # gcc's -fdiagnostics-format=json works
    #: Content of the executable: a wrapper script edited in place keeps its path and version line.
    digest: str = ""

    @property
    def identity(self) -> str:
        """What the cache keys on: a different binary, version or wrapper text is a different compiler."""
        return f"{self.path}\0{self.version}\0{self.digest}"


def _resolve(command: str, directory: Path | None) -> str | None:
    if os.sep in command:
        path = Path(command)
        if not path.is_absolute() and directory is not None:
            path = directory / path
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None
    return shutil.which(command)


@functools.lru_cache(maxsize=None)
def probe(command: str, directory: Path | None = None) -> Compiler:
    """Identify a compiler once per run; a missing or broken one is a setup error."""
    path = _resolve(command, directory)
    if path is None:
        raise SetupError("compiler not found", path=command,
                         hint="install it, or name another with --cc or the CC environment variable")
    out = finished([path, "--version"], timeout=30, what=f"'{path} --version'",
                   error=lambda reason: SetupError(reason, path=path, hint="check the installation"))
    text = (out.out or out.err).strip()
    first = text.splitlines()[0] if text else ""
    if out.returncode != 0:
        raise SetupError(f"'{path} --version' failed with exit code {out.returncode}", path=path,
                         hint="name a working compiler with --cc")
    lowered = text.lower()
    if "clang" in lowered:
        family = "clang"
    elif "gcc" in lowered or "free software foundation" in lowered:
        family = "gcc"
    else:
        family = "unknown"
    json_ok = family == "gcc" and _accepts_json(path)
    try:
        digest = file_digest(path)[:32]
    except OSError:
        digest = ""
    return Compiler(command=command, path=path, family=family, version=first, json_diagnostics=json_ok,
                    digest=digest)


def file_digest(path: Path | str) -> str:
    """The sha256 of a file's content, read in blocks."""
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def _accepts_json(path: str) -> bool:
    try:
        out = run([path, "-fdiagnostics-format=json", "-fsyntax-only", "-x", "c", os.devnull], timeout=30)
    except OSError:
        return False
    return out.ok


def default_compiler(language: str) -> str:
    return os.environ.get("CXX" if language == "c++" else "CC") or os.environ.get("CC") or "cc"
