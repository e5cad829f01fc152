"""What a compile command's flags say about the preprocessor, parsed once.

The include search, the compiler probe and the Kbuild helpers all need the same facts
out of a flag list (where headers are searched, what is read first, which language and
macros); one parser keeps them agreeing on gcc's spellings (``-Idir`` and ``-I dir``,
``--sysroot=dir``, ``-iprefix`` followed by ``-iwithprefix``...).  Paths stay as spelled:
making them absolute depends on the compile's directory and sysroot, which the caller has.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

# Options that change where the compiler's own headers are: a probe of the compiler's
# built-in directories must be run with them.
_TARGET_WITH_ARG = {"-target", "-isysroot", "--sysroot", "--gcc-toolchain", "-b", "-V"}
_TARGET_PREFIXES = ("--sysroot=", "--target=", "--gcc-toolchain=", "-stdlib=", "-isysroot")
_TARGET_EXACT = {
    "-m32",
    "-m64",
    "-mx32",
    "-m16",
    "-nostdinc++",
    "-nostdlibinc",
    "-nobuiltininc",
    "-ffreestanding",
    "-fno-hosted",
}


@dataclass(frozen=True)
class CompileFlags:
    """The preprocessor-relevant part of a compile command, in gcc's order within each list."""

    quote_dirs: tuple[str, ...] = ()  # -iquote
    include_dirs: tuple[str, ...] = ()  # -I, --include-directory, -iwithprefixbefore
    # gcc puts -iwithprefix among the -isystem directories (its manual says "where -idirafter would",
    # clang does that; gcc 12 measured: tests/test_flags.py).
    system_dirs: tuple[str, ...] = ()  # -isystem, -iwithprefix
    after_dirs: tuple[str, ...] = ()  # -idirafter
    forced_includes: tuple[str, ...] = ()  # -include
    macro_includes: tuple[str, ...] = ()  # -imacros
    nostdinc: bool = False
    #: The last ``--sysroot`` given (None: none, or an empty one).
    sysroot: str | None = None
    #: The first ``-x`` (what a header given alone is compiled as).
    language: str | None = None
    #: ``-D`` and ``-U`` in command-line order: ``(name, value)``, value None for ``-U``.
    macro_flags: tuple[tuple[str, str | None], ...] = ()
    #: Options that change the compiler's own search directories (``--target``, ``-m32``...),
    #: in order; ``--sysroot`` appears as ``--sysroot=VALUE`` with VALUE as spelled.
    target_flags: tuple[str, ...] = ()

    @property
    def defines(self) -> dict[str, str]:
        """Macros the command line leaves defined, with their values (``-DX`` is ``X=1``)."""
        out: dict[str, str] = {}
        for name, value in self.macro_flags:
            if value is None:
                out.pop(name, None)
            else:
                out[name] = value
        return out

    @property
    def kernel(self) -> bool:
        """Whether this compiles kernel code (``-D__KERNEL__``): uapi headers then change meaning."""
        return "__KERNEL__" in self.defines

    def target_flags_in(self, directory: Path) -> list[str]:
        """``target_flags`` with the sysroot made absolute against ``directory`` (for a probe run elsewhere)."""
        out = []
        for flag in self.target_flags:
            if flag.startswith("--sysroot="):
                flag = "--sysroot=" + str(directory / flag[len("--sysroot="):])
            out.append(flag)
        return out


@dataclass
class _Parse:
    """The flags read so far, under ``CompileFlags``' names; ``i`` is the position in ``flags``."""

    flags: Sequence[str]
    i: int = 0
    quote_dirs: list[str] = field(default_factory=list)
    include_dirs: list[str] = field(default_factory=list)
    system_dirs: list[str] = field(default_factory=list)
    after_dirs: list[str] = field(default_factory=list)
    forced_includes: list[str] = field(default_factory=list)
    macro_includes: list[str] = field(default_factory=list)
    target_flags: list[str] = field(default_factory=list)
    macro_flags: list[tuple[str, str | None]] = field(default_factory=list)
    nostdinc: bool = False
    sysroot: str | None = None
    language: str | None = None
    prefix: str = ""

    def arg_of(self, opt: str) -> str | None:
        """The value of ``opt`` given as ``optVALUE`` or ``opt VALUE``; advances ``i`` past a separate value."""
        f = self.flags[self.i]
        if f == opt:
            self.i += 1
            return self.flags[self.i] if self.i < len(self.flags) else None
        return f[len(opt):].lstrip("=") if opt.startswith("--") else f[len(opt):]

    def add_sysroot(self, value: str | None) -> None:
        self.sysroot = value or None
        if self.sysroot:
            self.target_flags.append("--sysroot=" + self.sysroot)

    def add_macro(self, text: str | None, undefine: bool) -> None:
        name, eq, value = (text or "").partition("=")
        if undefine and text:
            self.macro_flags.append((text, None))
        elif not undefine and name:
            self.macro_flags.append((name, value if eq else "1"))

    def frozen(self) -> CompileFlags:
        read = {f.name: getattr(self, f.name) for f in fields(CompileFlags)}
        frozen: dict[str, Any] = {name: tuple(v) if isinstance(v, list) else v for name, v in read.items()}
        return CompileFlags(**frozen)


_Handler = Callable[[_Parse, str | None], None]


def _into(pick: Callable[[_Parse], list[str]], *, prefixed: bool = False) -> _Handler:
    """A handler appending a non-empty value to one list (after the ``-iprefix`` when ``prefixed``)."""
    def handle(p: _Parse, value: str | None) -> None:
        if value:
            pick(p).append(p.prefix + value if prefixed else value)
    return handle


def _set_prefix(p: _Parse, value: str | None) -> None:
    p.prefix = value or ""


def _set_language(p: _Parse, value: str | None) -> None:
    if value is not None:
        p.language = p.language or value  # the first -x decides


# Options taking a value (``-Ivalue``, ``-I value``, ``--opt=value``), tried in order: longer spellings come
# before their prefixes (-include-pch before -include, -iwithprefixbefore before -iwithprefix).
_VALUED: tuple[tuple[str, _Handler], ...] = (
    ("-I", _into(lambda p: p.include_dirs)),
    ("--include-directory", _into(lambda p: p.include_dirs)),
    ("-iquote", _into(lambda p: p.quote_dirs)),
    ("-isystem", _into(lambda p: p.system_dirs)),
    ("-idirafter", _into(lambda p: p.after_dirs)),
    ("-include-pch", lambda p, value: None),  # a precompiled header is not a forced include
    ("-include", _into(lambda p: p.forced_includes)),
    ("-imacros", _into(lambda p: p.macro_includes)),
    ("-iprefix", _set_prefix),
    ("-iwithprefixbefore", _into(lambda p: p.include_dirs, prefixed=True)),
    ("-iwithprefix", _into(lambda p: p.system_dirs, prefixed=True)),
    ("--sysroot", _Parse.add_sysroot),
    ("-x", _set_language),
    ("-D", lambda p, value: p.add_macro(value, False)),
    ("-U", lambda p, value: p.add_macro(value, True)),
)
# By their first two characters: most of a kernel command is -W and -f options, which then cost one lookup.
_VALUED_BY_HEAD: dict[str, list[tuple[str, _Handler]]] = {}
for _entry in _VALUED:
    _VALUED_BY_HEAD.setdefault(_entry[0][:2], []).append(_entry)


def _read_one(p: _Parse) -> None:
    """Read the flag at ``p.i`` (and its separate value, if it takes one)."""
    f = p.flags[p.i]
    if f == "-I-":  # gcc's old quote/angle split marker, not a directory
        return
    if f == "-nostdinc":
        p.nostdinc = True
        return
    for opt, handle in _VALUED_BY_HEAD.get(f[:2], ()):
        if f.startswith(opt):
            handle(p, p.arg_of(opt))
            return
    if f in _TARGET_WITH_ARG and p.i + 1 < len(p.flags):
        p.target_flags += [f, p.flags[p.i + 1]]
        p.i += 1
    elif f.startswith(_TARGET_PREFIXES) or f in _TARGET_EXACT:
        p.target_flags.append(f)


def parse_flags(flags: Sequence[str]) -> CompileFlags:
    """Parse a compile command's flags (without the compiler); unknown options are ignored."""
    p = _Parse(flags)
    while p.i < len(flags):
        _read_one(p)
        p.i += 1
    return p.frozen()
