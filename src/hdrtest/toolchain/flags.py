"""What a compile command's flags say about the preprocessor, parsed once.

The include search, the compiler probe and the Kbuild helpers all need the same facts
out of a flag list (where headers are searched, what is read first, which language and
macros); one parser keeps them agreeing on gcc's spellings (``-Idir`` and ``-I dir``,
``--sysroot=dir``, ``-iprefix`` followed by ``-iwithprefix``...).  Paths stay as spelled:
making them absolute depends on the compile's directory and sysroot, which the caller has.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CompileFlags", "parse_flags"]

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
    system_dirs: tuple[str, ...] = ()  # -isystem
    after_dirs: tuple[str, ...] = ()  # -idirafter, -iwithprefix
    forced_includes: tuple[str, ...] = ()  # -include
    macro_includes: tuple[str, ...] = ()  # -imacros
    nostdinc: bool = False
    #: The last ``--sysroot`` given (None: none, or an empty one).
    sysroot: str | None = None
    #: The first ``-x`` (what a header given alone is compiled as).
    language: str | None = None
    #: The last ``-std=`` / ``--std=``.
    std: str | None = None
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
    def undefines(self) -> frozenset[str]:
        """Macros whose last word on the command line is ``-U``."""
        last: dict[str, str | None] = dict(self.macro_flags)
        return frozenset(name for name, value in last.items() if value is None)

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


def _macro(text: str, undefine: bool) -> tuple[str, str | None] | None:
    if not text:
        return None
    if undefine:
        return text, None
    name, eq, value = text.partition("=")
    return (name, value if eq else "1") if name else None


def parse_flags(flags: Sequence[str]) -> CompileFlags:
    """Parse a compile command's flags (without the compiler); unknown options are ignored."""
    quote: list[str] = []
    inc: list[str] = []
    system: list[str] = []
    after: list[str] = []
    forced: list[str] = []
    imacros: list[str] = []
    target: list[str] = []
    macro_flags: list[tuple[str, str | None]] = []
    nostdinc = False
    sysroot: str | None = None
    language: str | None = None
    std: str | None = None
    prefix = ""
    i = 0
    n = len(flags)

    def arg_of(opt: str) -> str | None:
        """The value of ``opt`` given as ``optVALUE`` or ``opt VALUE``; advances ``i``."""
        nonlocal i
        f = flags[i]
        if f == opt:
            i += 1
            return flags[i] if i < n else None
        return f[len(opt):].lstrip("=") if opt.startswith("--") else f[len(opt):]

    # Longer spellings are tested before their prefixes (-include-pch before -include,
    # -iwithprefixbefore before -iwithprefix).
    while i < n:
        f = flags[i]
        if f.startswith("-I") and f != "-I-":
            v = arg_of("-I")
            if v:
                inc.append(v)
        elif f.startswith("--include-directory"):
            v = arg_of("--include-directory")
            if v:
                inc.append(v)
        elif f.startswith("-iquote"):
            v = arg_of("-iquote")
            if v:
                quote.append(v)
        elif f.startswith("-isystem"):
            v = arg_of("-isystem")
            if v:
                system.append(v)
        elif f.startswith("-idirafter"):
            v = arg_of("-idirafter")
            if v:
                after.append(v)
        elif f.startswith("-include-pch"):
            arg_of("-include-pch")
        elif f.startswith("-include"):
            v = arg_of("-include")
            if v:
                forced.append(v)
        elif f.startswith("-imacros"):
            v = arg_of("-imacros")
            if v:
                imacros.append(v)
        elif f.startswith("-iprefix"):
            prefix = arg_of("-iprefix") or ""
        elif f.startswith("-iwithprefixbefore"):
            v = arg_of("-iwithprefixbefore")
            if v:
                inc.append(prefix + v)
        elif f.startswith("-iwithprefix"):
            v = arg_of("-iwithprefix")
            if v:
                after.append(prefix + v)
        elif f == "-nostdinc":
            nostdinc = True
        elif f.startswith("--sysroot"):
            sysroot = arg_of("--sysroot") or None
            if sysroot:
                target.append("--sysroot=" + sysroot)
        elif f == "-x" and i + 1 < n:
            i += 1
            language = language or flags[i]
        elif f.startswith("-x") and len(f) > 2:
            language = language or f[2:]
        elif f.startswith(("-std=", "--std=")):
            std = f.partition("=")[2] or std
        elif f.startswith(("-D", "-U")):
            undefine = f.startswith("-U")
            macro = _macro(arg_of(f[:2]) or "", undefine)
            if macro is not None:
                macro_flags.append(macro)
        elif f in _TARGET_WITH_ARG and i + 1 < n:
            target += [f, flags[i + 1]]
            i += 1
        elif f.startswith(_TARGET_PREFIXES) or f in _TARGET_EXACT:
            target.append(f)
        i += 1

    return CompileFlags(
        quote_dirs=tuple(quote),
        include_dirs=tuple(inc),
        system_dirs=tuple(system),
        after_dirs=tuple(after),
        forced_includes=tuple(forced),
        macro_includes=tuple(imacros),
        nostdinc=nostdinc,
        sysroot=sysroot,
        language=language,
        std=std,
        macro_flags=tuple(macro_flags),
        target_flags=tuple(target),
    )
