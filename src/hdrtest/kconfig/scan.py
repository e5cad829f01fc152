"""What a Linux tree's Kconfig files say, read without a Kconfig engine.

A line scan (types, prompts, selectors, dependencies, choices) that guides the search,
the environment ``conf`` last ran with, and a fingerprint of the Kconfig files it read.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class SymInfo:
    """What a line scan of Kconfig files knows about one symbol."""

    type: str | None = None
    prompt: bool = False
    #: ``(selector, "select"|"imply")``
    selected_by: list[tuple[str, str]] = field(default_factory=list)
    depends: set[str] = field(default_factory=set)
    choice: int | None = None


_IDENT = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")
_NOT_SYMBOLS = {"y", "m", "n", "if", "on"}


def _expr_symbols(expr: str) -> set[str]:
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', " ", expr)
    expr = re.sub(r"\$\([^)]*\)", " ", expr)
    return {w for w in _IDENT.findall(expr) if w not in _NOT_SYMBOLS}


def _strip_comment(line: str) -> str:
    in_quote = False
    for i, ch in enumerate(line):
        if ch == '"' and (i == 0 or line[i - 1] != "\\"):
            in_quote = not in_quote
        elif ch == "#" and not in_quote:
            return line[:i]
    return line


def _logical_lines(text: str) -> Iterator[str]:
    """The lines with continuations joined, comments and help texts dropped."""
    raw = text.expandtabs(8).splitlines()
    i = 0
    while i < len(raw):
        line = raw[i]
        while line.endswith("\\") and i + 1 < len(raw):
            i += 1
            line = line[:-1] + " " + raw[i].strip()
        i += 1
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if stripped in ("help", "---help---"):
            # Help text runs while lines stay indented at least as deep as its first line.
            j = i
            while j < len(raw) and not raw[j].strip():
                j += 1
            if j < len(raw):
                first = len(raw[j]) - len(raw[j].lstrip())
                if first > indent:
                    while j < len(raw) and (not raw[j].strip() or
                                            len(raw[j]) - len(raw[j].lstrip()) >= first):
                        j += 1
                    i = j
            continue
        yield _strip_comment(stripped).strip()


_ENDS = {"endif": "if", "endmenu": "menu", "endchoice": "choice"}
_SYMBOL_TYPES = ("bool", "tristate", "string", "int", "hex")


@dataclass
class _FileScan:
    """One Kconfig file's line scan: the symbol being defined and the if/menu/choice blocks around it."""

    index: dict[str, SymInfo]
    next_choice: int
    current: SymInfo | None = None
    current_name: str = ""
    block_deps: list[set[str]] = field(default_factory=list)  # if/menu/choice stack
    block_kind: list[str] = field(default_factory=list)
    pending_menu: set[str] | None = None  # the open menu or choice that a "depends on" applies to
    choice_id: int | None = None

    def line(self, word: str, rest: str) -> None:
        handle = _BLOCK_WORDS.get(word)
        if handle is not None:
            handle(self, word, rest)
        elif self.current is not None:
            self.attribute(self.current, word, rest)

    def config(self, word: str, rest: str) -> None:
        if not rest:
            return
        self.current_name = rest.split()[0]
        self.current = self.index.setdefault(self.current_name, SymInfo())
        self.current.depends.update(*self.block_deps)
        if self.choice_id is not None:
            self.current.choice = self.choice_id
        self.pending_menu = None

    def open_block(self, word: str, rest: str) -> None:
        if word == "choice":
            self.choice_id = self.next_choice
            self.next_choice += 1
        self.block_deps.append(_expr_symbols(rest) if word == "if" else set())
        self.block_kind.append(word)
        self.current = None
        self.pending_menu = None if word == "if" else self.block_deps[-1]

    def close_block(self, word: str, rest: str) -> None:
        while self.block_kind:
            self.block_deps.pop()
            if self.block_kind.pop() == _ENDS[word]:
                break
        if word == "endchoice":
            self.choice_id = None
        self.current = self.pending_menu = None

    def other_entry(self, word: str, rest: str) -> None:
        self.current = self.pending_menu = None

    def depends(self, word: str, rest: str) -> None:
        if not rest.startswith("on"):
            return
        deps = _expr_symbols(rest[2:])
        if self.current is not None:
            self.current.depends |= deps
        elif self.pending_menu is not None:
            self.pending_menu |= deps

    def attribute(self, current: SymInfo, word: str, rest: str) -> None:
        """A line inside a ``config`` entry."""
        if word in _SYMBOL_TYPES:
            current.type = current.type or word
            current.prompt = current.prompt or rest.startswith('"')
        elif word in ("def_bool", "def_tristate"):
            current.type = current.type or word[4:]
        elif word == "prompt":
            current.prompt = True
        elif word in ("select", "imply") and rest:
            self.index.setdefault(rest.split()[0], SymInfo()).selected_by.append((self.current_name, word))


_BLOCK_WORDS = {
    "config": _FileScan.config, "menuconfig": _FileScan.config, "depends": _FileScan.depends,
    **dict.fromkeys(("choice", "menu", "if"), _FileScan.open_block),
    **dict.fromkeys(_ENDS, _FileScan.close_block),
    **dict.fromkeys(("comment", "mainmenu", "source", "osource", "rsource", "orsource"), _FileScan.other_entry),
}


def scan_kconfig_text(text: str, index: dict[str, SymInfo], choice_base: int = 0) -> int:
    """Add one Kconfig file's symbols to ``index``; returns the next free choice id.

    A line scan, not a parser: enough to know types, prompts, selectors, dependencies and
    choice membership.  ``if``/``menu`` dependencies are attached to the symbols inside.
    """
    scan = _FileScan(index, choice_base)
    for line in _logical_lines(text):
        if line:
            word, _, rest = line.partition(" ")
            scan.line(word, rest.strip())
    return scan.next_choice


def scan_kconfig_tree(root: Path) -> dict[str, SymInfo]:
    """Index every ``Kconfig*`` file of a tree (all architectures; the state filters)."""
    index: dict[str, SymInfo] = {}
    next_choice = 0
    skip = {".git", "tests"}  # scripts/kconfig/tests holds toy Kconfigs named like real ones
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in skip)
        for fname in sorted(filenames):
            if fname.startswith("Kconfig"):
                text = Path(dirpath, fname).read_text(encoding="utf-8", errors="replace")
                next_choice = scan_kconfig_text(text, index, next_choice)
    return index


#: Bump when ``SymInfo`` or what ``scan_kconfig_text`` records changes.
TREE_INDEX_VERSION = "hdrtest-kconfig-tree-1"


_Row = tuple[str | None, bool, list[tuple[str, str]], list[str], int | None]


def encode_tree_index(index: Mapping[str, SymInfo]) -> bytes:
    rows = {name: (i.type, i.prompt, i.selected_by, sorted(i.depends), i.choice) for name, i in index.items()}
    return pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)


class TreeIndex(Mapping[str, SymInfo]):
    """A stored ``scan_kconfig_tree``: symbols are rebuilt when asked for (a run asks for a few dozen of ~20,000)."""

    def __init__(self, rows: dict[str, _Row]) -> None:
        self._rows = rows
        self._built: dict[str, SymInfo] = {}

    def __getitem__(self, name: str) -> SymInfo:
        info = self._built.get(name)
        if info is None:
            kind, prompt, selected, depends, choice = self._rows[name]
            info = self._built[name] = SymInfo(kind, bool(prompt), [(a, b) for a, b in selected], set(depends),
                                                choice)
        return info

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


def decode_tree_index(blob: bytes) -> TreeIndex:
    rows = pickle.loads(blob)
    if not isinstance(rows, dict):
        raise ValueError("damaged Kconfig index")
    return TreeIndex(rows)


_CMD_ENV = re.compile(r'^ifneq "\$\(([A-Za-z_][A-Za-z0-9_]*)\)" "(.*)"$')


def kconfig_env_from_cmd(path: Path) -> dict[str, str]:
    """The environment Kconfig was evaluated with, from ``include/config/auto.conf.cmd``.

    conf records every environment variable its macros read (CC, CC_VERSION_TEXT, SRCARCH,
    ...) as ``ifneq "$(VAR)" "value"`` so make can rerun it when one changes; replaying them
    reproduces the evaluation without make.  Empty when the file is missing.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    return {m.group(1): m.group(2) for m in map(_CMD_ENV.match, text.splitlines()) if m}


def kconfig_fingerprint(root: Path) -> str:
    """Stamps of every Kconfig file conf read last time (``deps_config`` in auto.conf.cmd).

    Part of the disk-cache key: a checkout that edits a Kconfig file must not be answered
    from resolutions made against the old one.  Costs ~1,600 ``stat`` calls on Linux.
    """
    h = hashlib.sha256()
    try:
        text = (root / "include" / "config" / "auto.conf.cmd").read_text(errors="replace")
    except OSError:
        return ""
    h.update(text.encode())
    in_deps = False
    for line in text.splitlines():
        if line.startswith("deps_config :="):
            in_deps = True
            continue
        if in_deps:
            rel = line.strip().rstrip("\\").strip()
            if not rel:
                break
            try:
                st = (root / rel).stat()
                h.update(f"{rel}:{st.st_mtime_ns}:{st.st_size}\n".encode())
            except OSError:
                h.update(f"{rel}:missing\n".encode())
    return h.hexdigest()
