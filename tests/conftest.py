"""Shared helpers: real trees in temporary directories, and running hdrtest as a user would."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"

#: The kernel's IS_ENABLED machinery (include/linux/kconfig.h), written from its documented behaviour.
KCONFIG_H = (
    "#define __ARG_PLACEHOLDER_1 0,\n"
    "#define __take_second_arg(__ignored, val, ...) val\n"
    "#define __is_defined(x) ___is_defined(x)\n"
    "#define ___is_defined(val) ____is_defined(__ARG_PLACEHOLDER_##val)\n"
    "#define ____is_defined(arg1_or_junk) __take_second_arg(arg1_or_junk 1, 0)\n"
    "#define IS_BUILTIN(option) __is_defined(option)\n"
    "#define IS_MODULE(option) __is_defined(option##_MODULE)\n"
    "#define IS_ENABLED(option) __or(IS_BUILTIN(option), IS_MODULE(option))\n"
    "#define __or(x, y) ___or(x, y)\n"
    "#define ___or(x, y) ____or(__ARG_PLACEHOLDER_##x, y)\n"
    "#define ____or(arg1_or_junk, y) __take_second_arg(arg1_or_junk 1, y)\n"
    )

COMPILERS = [c for c in ("gcc", "clang") if shutil.which(c)]


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> dict:  # type: ignore[type-arg]
        return json.loads(self.stdout)


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def hdrtest(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 300) -> Run:
    """Run the installed CLI in a subprocess, the way a user or CI does."""
    full_env = dict(os.environ)
    # A fresh cache outside the checked tree unless the test shares one on purpose.
    full_env["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="hdrtest-test-cache-")
    full_env.pop("FORCE_COLOR", None)
    if env:
        full_env.update(env)
    proc = subprocess.run([sys.executable, "-m", "hdrtest", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=full_env)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def default_sigint() -> None:
    """For ``preexec_fn``: a test run started as a background job of a script ignores SIGINT, and its
    children would inherit that; tests that send SIGINT need the default disposition back."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_hdrtest(args: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None,
                  argv: list[str] | None = None) -> subprocess.Popen[str]:
    """Start hdrtest (or ``argv``) in the background, with SIGINT at its default, pipes for its output."""
    return subprocess.Popen(argv or [sys.executable, "-m", "hdrtest", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)


def tree_hashes(root: Path) -> dict[str, str]:
    hashes = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            hashes[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
        elif path.is_dir():
            hashes[str(path.relative_to(root)) + "/"] = "dir"
    return hashes


@pytest.fixture(params=COMPILERS)
def compiler(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def cache_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    yield {"XDG_CACHE_HOME": str(tmp_path / "xdg-cache")}
