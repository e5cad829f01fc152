"""The compiler and every other program hdrtest runs: identity, flags, commands, processes."""

from .compiler import Compiler, default_compiler, probe

__all__ = ["Compiler", "default_compiler", "probe"]
