"""Which macros are configuration options (``--option-pattern``, ``--option``).

Kconfig spells its options ``CONFIG_*``; other projects have their own knobs.  The
filter decides which plain identifiers in ``#if`` mean ``defined(X)`` and which
macros of a formula count as options in reports and variant plans.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from .formula import Formula, macros

DEFAULT_OPTION_PATTERN = r"CONFIG_[A-Za-z0-9_]+"


@dataclass(frozen=True)
class OptionFilter:
    """Which macros are configuration options (``--option-pattern``, ``--option``).

    Names fully matching any pattern, or listed explicitly, are options.  A Kconfig
    tristate set to ``m`` shows up as ``CONFIG_X_MODULE``; its option is ``CONFIG_X``.
    """

    patterns: tuple[str, ...] = (DEFAULT_OPTION_PATTERN,)
    names: frozenset[str] = frozenset()
    _compiled: tuple[re.Pattern[str], ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", tuple(re.compile(p) for p in self.patterns))

    @classmethod
    def from_args(cls, patterns: Sequence[str] = (), names: Sequence[str] = ()) -> OptionFilter:
        """``--option-pattern`` replaces the default pattern; ``--option`` adds names."""
        return cls(tuple(patterns) or (DEFAULT_OPTION_PATTERN,), frozenset(names))

    def _matches(self, name: str) -> bool:
        return name in self.names or any(p.fullmatch(name) for p in self._compiled)

    def option_of(self, name: str) -> str | None:
        """The option a macro stands for, or None when it is not a configuration macro."""
        if name.endswith("_MODULE") and self._matches(name[: -len("_MODULE")]):
            return name[: -len("_MODULE")]
        return name if self._matches(name) else None

    def is_option(self, name: str) -> bool:
        return self.option_of(name) is not None

    def options(self, f: Formula) -> frozenset[str]:
        """The configuration options a formula depends on."""
        return frozenset(o for m in macros(f) if (o := self.option_of(m)) is not None)
