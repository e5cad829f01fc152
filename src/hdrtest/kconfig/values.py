"""Names, values, records and the backend protocol shared by every Kconfig engine.

Names: Kconfig symbols are written without the ``CONFIG_`` prefix inside Kconfig files, but
everything this package returns uses the macro name with the prefix (``CONFIG_FOO``), as the
compiler sees it.  Values are ``"y"``/``"m"``/``"n"`` for bool/tristate, the literal macro text
otherwise (strings quoted, as in ``.config``); ``"n"`` also stands for "not in the
configuration at all" (an int whose dependencies are off has no macro either).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from hdrtest.models import OptionSetting, Variant

PREFIX = "CONFIG_"

Assignment = tuple[str, str]  # (CONFIG_NAME, value)
Assignments = tuple[Assignment, ...]
State = Mapping[str, str]

TRI = {"n": 0, "m": 1, "y": 2}
TRISTATE_TYPES = ("bool", "tristate")


class KconfigError(Exception):
    """A Kconfig tree that exists but cannot be read or evaluated."""


@dataclass(frozen=True)
class Resolution:
    """The outcome of asking for one option value."""

    requested: OptionSetting
    #: Read back: the requested symbol ended with the requested value.
    achieved: bool
    #: User-visible options hdrtest set to get there (the target itself when it was settable).
    via: tuple[OptionSetting, ...] = ()
    #: ``(CONFIG_NAME, old, new)`` for every symbol whose value differs from the baseline.
    changed: tuple[tuple[str, str, str], ...] = ()
    #: ``.config`` fragment that reproduces this configuration via ``olddefconfig``.
    config_lines: tuple[str, ...] = ()
    #: Macro changes in autoconf.h semantics, ``None`` meaning ``#undef``.
    defines: tuple[tuple[str, str | None], ...] = ()

    @property
    def implied(self) -> tuple[OptionSetting, ...]:
        """Changes Kconfig made on its own, beyond what hdrtest set."""
        set_names = {v.name for v in self.via}
        return tuple(OptionSetting(n, new) for n, _old, new in self.changed if n not in set_names)


def combine(resolutions: Sequence[Resolution], reason: str, name: str | None = None) -> Variant:
    """The variant of several flips at once: their macro changes merged, later ones winning; named by the
    settings hdrtest made unless ``name`` is given."""
    defines: dict[str, str | None] = {}
    changes: list[OptionSetting] = []
    implied: list[OptionSetting] = []
    lines: list[str] = []
    for res in resolutions:
        defines.update(dict(res.defines))
        changes.extend(res.via or (res.requested,))
        implied.extend(res.implied)
        lines.extend(res.config_lines)
    return Variant(name=",".join(str(c) for c in changes) if name is None else name, changes=tuple(changes),
                   implied=tuple(dict.fromkeys(implied)), defines=tuple(defines.items()), reason=reason,
                   config_lines=tuple(dict.fromkeys(lines)))


class KconfigBackend(Protocol):
    def baseline(self) -> dict[str, str]: ...

    def flip(self, option: str, value: str) -> Resolution | None: ...

    def symbol_type(self, option: str) -> str | None: ...

    def known(self, option: str) -> bool: ...


# --------------------------------------------------------------------------- pure helpers


def macro_name(option: str) -> str:
    """``FOO`` or ``CONFIG_FOO`` -> ``CONFIG_FOO``."""
    return option if option.startswith(PREFIX) else PREFIX + option


def symbol_name(option: str) -> str:
    """``CONFIG_FOO`` or ``FOO`` -> ``FOO`` (the name inside Kconfig files)."""
    return option[len(PREFIX):] if option.startswith(PREFIX) else option


def quote_string(raw: str) -> str:
    """A raw string value as ``.config``/C text (Kconfig escapes exactly ``\\`` and ``"``)."""
    return '"' + raw.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unquote_string(text: str) -> str:
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def normalize_value(value: str, sym_type: str | None) -> str:
    """A requested value in this module's canonical form."""
    value = value.strip()
    if sym_type in TRISTATE_TYPES or (sym_type is None and value.lower() in TRI):
        return value.lower()
    if sym_type == "string":
        return value if value.startswith('"') and value.endswith('"') and len(value) >= 2 \
            else quote_string(value)
    return value


def config_line(name: str, value: str, sym_type: str | None = None) -> str:
    """One ``.config`` line setting ``name`` (with prefix) to ``value``, as ``scripts/config`` writes it for a
    symbol of ``sym_type`` (None: as a bool/tristate when the value is n, else as written)."""
    if value == "n" and sym_type not in ("int", "hex", "string"):
        return f"# {name} is not set"
    if sym_type == "string":
        # scripts/config --set-str escapes double quotes only.
        return f'{name}="' + unquote_string(value).replace('"', '\\"') + '"'
    return f"{name}={value}"


_CONFIG_LINE = re.compile(r"^(?:(?P<name>CONFIG_[A-Za-z0-9_]+)=(?P<value>.*)|# (?P<unset>CONFIG_[A-Za-z0-9_]+) is not set)$")


def parse_dotconfig(text: str) -> dict[str, str]:
    """``.config`` text -> ``{CONFIG_NAME: value}`` ("is not set" -> ``"n"``)."""
    matches = filter(None, map(_CONFIG_LINE.match, text.splitlines()))
    return {m["name"] or m["unset"]: "n" if m["unset"] else m["value"] for m in matches}


def diff_states(before: State, after: State) -> tuple[tuple[str, str, str], ...]:
    """Symbols whose value differs; a name missing on one side counts as ``"n"``."""
    pairs = ((name, before.get(name, "n"), after.get(name, "n")) for name in sorted(set(before) | set(after)))
    return tuple((name, old, new) for name, old, new in pairs if old != new)


def _c_literal(value: str, sym_type: str | None) -> str:
    if sym_type == "string":
        return value if value.startswith('"') else quote_string(value)
    if sym_type == "hex" and not value.lower().startswith("0x"):
        # conf writes hex values into autoconf.h with a 0x prefix even when .config lacks it.
        return "0x" + value
    return value


def defines_for_changes(
    changed: Sequence[tuple[str, str, str]], types: Mapping[str, str | None]
) -> tuple[tuple[str, str | None], ...]:
    """Macro changes autoconf.h would show for ``changed`` (``(name, old, new)`` triples).

    ``types`` maps CONFIG_ names to "bool"/"tristate"/"string"/"int"/"hex"; a name missing
    from it is treated as tristate when its value is y/m/n, as a literal otherwise.
    """
    out: list[tuple[str, str | None]] = []
    for name, _old, new in changed:
        sym_type = types.get(name)
        module = name + "_MODULE"
        if sym_type in TRISTATE_TYPES or (sym_type is None and new in TRI):
            out += [(name, "1" if new == "y" else None), (module, "1" if new == "m" else None)]
        elif new == "n":
            out.append((name, None))
        else:
            out.append((name, _c_literal(new, sym_type)))
    return tuple(out)


def values_from_macros(macros: Mapping[str, str | None]) -> dict[str, str]:
    """Option -> ``y``/``m``/its value from the macros autoconf.h defines: the inverse of ``defines_for_changes``
    (``CONFIG_X_MODULE`` defined as 1 means m)."""
    values: dict[str, str] = {}
    for name, body in macros.items():
        if not name.startswith("CONFIG_") or body is None:
            continue
        if name.endswith("_MODULE") and body == "1":
            values[name[: -len("_MODULE")]] = "m"
        else:
            values.setdefault(name, "y" if body == "1" else body)
    return values


def plain_flip(option: str, value: str) -> Resolution:
    """A flip in a tree without Kconfig: just (un)define the macro, as ``-D``/``-U`` would.

    The old value is unknown here, so ``changed`` records it as ``"?"``.
    """
    value = value.strip()
    defines = {"y": ((option, "1"),), "n": ((option, None),),
               "m": ((option, None), (option + "_MODULE", "1"))}.get(value, ((option, value),))
    return Resolution(requested=OptionSetting(option, value), achieved=True, changed=((option, "?", value),),
                      defines=defines)
