"""``kconfig-eval``: a Linux tree's own Kconfig implementation, parsed once, serving many evaluations.

``conf --olddefconfig`` re-parses all of Kconfig and re-runs its toolchain probes for every
configuration (seconds each).  The helper (helper/kconfig-eval.c, our code) links the tree's
``scripts/kconfig`` sources, built in a private directory keyed by their content, parses once,
then answers "this .config -> what differs from the reference" in tens of milliseconds, as
``conf --olddefconfig`` would have written it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
import threading
import weakref
from collections.abc import Mapping
from pathlib import Path

from hdrtest.toolchain.run import Child, finished, spawn

from .model import Model, ModelError, parse_model
from .values import Assignments, KconfigError, State, config_line, parse_dotconfig

HELPER_SOURCE = Path(__file__).parent / "helper" / "kconfig-eval.c"
#: The tree's Kconfig implementation, as scripts/kconfig/Makefile's common-objs lists it.
_KCONFIG_SOURCES = ("confdata.c", "expr.c", "menu.c", "preprocess.c", "symbol.c", "util.c")
#: Bump when the build recipe changes.
_BUILD_VERSION = "kconfig-eval-2"
#: kconfig's expr_invalidate_all() walks its expression hash table node by node (20 ms a call on
#: Linux 6.12); the helper's own version clears the same nodes from an address-ordered array.
_LINK_FLAGS = ("-Wl,--wrap=expr_invalidate_all",)


def source_fingerprint(root: Path, cc: str) -> str:
    """Content hash of everything the helper is built from: ours, the tree's kconfig sources, the compiler."""
    h = hashlib.sha256()
    h.update(_BUILD_VERSION.encode() + b"\0" + cc.encode() + b"\0")
    h.update(HELPER_SOURCE.read_bytes())
    kdir = root / "scripts" / "kconfig"
    files = sorted(p for p in kdir.iterdir() if p.is_file() and p.suffix in (".c", ".h", ".l", ".y"))
    files += sorted(p for p in (root / "scripts" / "include").glob("*.h") if p.is_file())
    for path in files:
        h.update(str(path.relative_to(root)).encode() + b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def build_helper(root: Path, cache_dir: Path, *, cc: str = "cc", timeout: float = 300.0) -> Path:
    """The helper for ``root``'s kconfig sources, built once per source fingerprint under ``cache_dir``.

    Uses the tree's generated lexer/parser when ``make prepare`` left them, else flex and
    bison into the private build directory.  Raises ``KconfigError`` with the reason when it
    cannot be built (an older or newer kconfig whose API differs, no compiler, no flex).
    """
    kdir = root / "scripts" / "kconfig"
    try:
        key = source_fingerprint(root, cc)
    except OSError as e:
        raise KconfigError(f"cannot read {kdir}: {e}") from e
    final = cache_dir / key[:32] / "kconfig-eval"
    if os.access(final, os.X_OK):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="build-", dir=final.parent, ignore_cleanup_errors=True) as scratch:
        work = Path(scratch)
        generated = _generated_sources(kdir, work, timeout)
        sources = [str(HELPER_SOURCE)] + [str(kdir / name) for name in _KCONFIG_SOURCES] + generated
        out = work / "kconfig-eval"
        _step([cc, "-O2", "-std=gnu11", "-w", "-I", str(work), "-I", str(kdir),
               "-I", str(root / "scripts" / "include"), *_LINK_FLAGS, "-o", str(out), *sources], work, timeout)
        os.replace(out, final)  # atomic: a concurrent run sees the old state or the whole binary
    return final


def _generated_sources(kdir: Path, work: Path, timeout: float) -> list[str]:
    lexer, parser, header = kdir / "lexer.lex.c", kdir / "parser.tab.c", kdir / "parser.tab.h"
    if lexer.is_file() and parser.is_file() and header.is_file():
        return [str(lexer), str(parser)]
    for tool in ("flex", "bison"):
        if shutil.which(tool) is None:
            raise KconfigError(f"{kdir}: no generated lexer/parser and no {tool} to make them")
    _step(["bison", "-o", str(work / "parser.tab.c"), f"--defines={work / 'parser.tab.h'}", str(kdir / "parser.y")],
          work, timeout)
    _step(["flex", "-o", str(work / "lexer.lex.c"), str(kdir / "lexer.l")], work, timeout)
    return [str(work / "lexer.lex.c"), str(work / "parser.tab.c")]


def _step(argv: list[str], cwd: Path, timeout: float) -> None:
    """One build step; a tool that cannot start (no ``cc``) is a reason to fall back to conf, like one that fails."""
    what = Path(argv[0]).name
    proc = finished(argv, timeout=timeout, cwd=cwd,
                    error=lambda reason: KconfigError(f"{what} failed building kconfig-eval: {reason}"))
    if proc.returncode != 0:
        first = next((line for line in proc.err.splitlines() if "error" in line), proc.err.strip())
        raise KconfigError(f"{what} failed building kconfig-eval: {first[:300] or f'exit status {proc.returncode}'}")


_EXISTING = r"^(?:{name}=.*|# {name} is not set)$"


def edit_dotconfig(text: str, assigns: Assignments, types: Mapping[str, str | None]) -> str:
    """``.config`` text with ``assigns`` applied exactly as ``scripts/config`` applies them.

    An existing line (set or "is not set") is replaced where it stands, otherwise the line
    is appended: the position matters to conf, where the last choice member read wins.
    """
    for name, value in assigns:
        line = config_line(name, value, types.get(name))
        text, replaced = re.subn(_EXISTING.format(name=re.escape(name)), lambda _m: line, text, flags=re.MULTILINE)
        if not replaced:
            text = text + ("" if not text or text.endswith("\n") else "\n") + line + "\n"
    return text


class Evaluator:
    """One running ``kconfig-eval`` for one tree and one reference ``.config``.

    Thread-safe (requests are serialised: one evaluation costs milliseconds).
    """

    def __init__(self, binary: Path, kconfig: Path, reference: Path, env: Mapping[str, str],
                 workdir: Path, *, timeout: float = 300.0) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        # Kconfig's $(cc-option) probes make scratch directories in the working directory.
        self._dir = Path(tempfile.mkdtemp(prefix="kconfig-eval-", dir=workdir))
        self._timeout = timeout
        self._lock = threading.Lock()
        self._stderr = self._dir / "stderr"
        try:
            self._child = spawn([str(binary), str(kconfig)], cwd=self._dir, env=env, stderr_path=self._stderr)
        except OSError as e:
            shutil.rmtree(self._dir, ignore_errors=True)
            raise KconfigError(f"cannot start {binary}: {e}") from e
        self._finalizer = weakref.finalize(self, _shut, self._child, self._dir)
        ready = self._line()
        if not ready.startswith("READY "):
            self.close()
            raise KconfigError(f"kconfig-eval could not parse {kconfig}: {self._tail()}")
        self.reference: dict[str, str] = parse_dotconfig("\n".join(self._request("REF", reference)))
        #: Requests ``evaluate_assignments`` left to ``evaluate`` (the helper does not model them).
        self.unmodelled = 0

    def evaluate(self, dotconfig: str) -> State:
        """The whole configuration ``conf --olddefconfig`` makes of ``dotconfig``."""
        with self._lock:
            path = self._dir / "request.config"
            path.write_text(dotconfig, encoding="utf-8")
            lines = self._request("EVAL", path)
        return self._state(lines)

    def evaluate_assignments(self, assigns: Assignments, types: Mapping[str, str | None]) -> State | None:
        """What ``evaluate`` answers for the reference edited by ``edit_dotconfig(.., assigns, types)``,
        without a file: the helper restores the state right after reading the reference and reads
        only these lines.  None when the helper does not model the request (a value conf would warn
        about, a repeated symbol): then ``evaluate`` the edited text."""
        if any("\n" in value for _name, value in assigns):
            return None
        request = "SET\n" + "".join(config_line(name, value, types.get(name)) + "\n"
                                     for name, value in assigns) + ".\n"
        with self._lock:
            lines = self._request_text(request)
            if lines == ["?"]:
                self.unmodelled += 1
                return None
        return self._state(lines)

    def _state(self, lines: list[str]) -> State:
        state = dict(self.reference)
        for line in lines:
            if line.startswith("-"):
                state.pop(line[1:], None)
        state.update(parse_dotconfig("\n".join(lines)))
        return state

    def model(self) -> Model:
        """Every symbol's type, dependencies, selects, defaults and choice, as the tree's parser has them."""
        with self._lock:
            lines = self._request("MODEL", None)
        try:
            return parse_model(lines)
        except ModelError as e:
            raise KconfigError(f"kconfig-eval's model: {e}") from e

    def close(self) -> None:
        self._finalizer()

    def _request(self, verb: str, path: Path | None) -> list[str]:
        if "\n" in str(path):
            raise KconfigError(f"{path}: a newline in the path cannot be sent to kconfig-eval")
        return self._request_text(f"{verb} {path}\n" if path is not None else f"{verb}\n")

    def _request_text(self, request: str) -> list[str]:
        try:
            self._child.send(request.encode())
        except OSError as e:
            raise KconfigError(f"kconfig-eval is gone: {self._tail()}") from e
        lines: list[str] = []
        while True:
            line = self._line()
            if line == ".":
                break
            lines.append(line)
        if lines and lines[0].startswith("!"):
            raise KconfigError(f"kconfig-eval: {lines[0][1:]}")
        return lines

    def _line(self) -> str:
        try:
            raw = self._child.readline(self._timeout)
        except TimeoutError as e:
            raise KconfigError(f"kconfig-eval did not answer within {self._timeout:g} s") from e
        if raw is None:
            raise KconfigError(f"kconfig-eval exited: {self._tail()}")
        return raw.decode("utf-8", "replace")

    def _tail(self) -> str:
        try:
            text = self._stderr.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            return "no message"
        return " | ".join(text.splitlines()[-3:])[:500] or "no message"


def _shut(child: Child, directory: Path) -> None:
    with contextlib.suppress(OSError):
        child.send(b"QUIT\n")
    child.close()
    shutil.rmtree(directory, ignore_errors=True)
