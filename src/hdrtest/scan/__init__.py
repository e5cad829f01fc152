"""Static knowledge about headers, gathered without compiling them.

- ``formula``: presence conditions as small boolean formulas over macros.
- ``cexpr``: ``#if`` expressions parsed and evaluated like cpp.
- ``conditions``: the formula of one ``#if`` branch.
- ``options``: which macros are configuration options.
- ``directives``: a fast preprocessor-directive scanner (conditionals, includes, defines).
- ``scancache``: directive scans cached by content hash, in memory and on disk.
- ``probe``: the compiler's built-in include directories and implicit includes.
- ``attributes``: attribute macros blanked so that tree-sitter can parse a header.
- ``cindex``: where each struct, typedef, function, variable and macro of one file is defined, and when.
- ``symbols``: the symbol index over many files, cached by content hash.
- ``uses``: which identifiers and tags a header refers to.
"""

from __future__ import annotations

import importlib
from typing import Any

# Importing a submodule (``conditions`` for every check) must not load them all: ``cindex``
# and ``symbols`` bring in tree-sitter, which only explanations and variant planning need.
_HOME = {
    **dict.fromkeys(("FALSE", "TRUE", "And", "Atom", "Const", "Defined", "Formula", "Not", "Or",
                     "conj", "disj", "evaluate", "macros", "neg", "to_c"), "formula"),
    **dict.fromkeys(("OptionFilter",), "options"),
    **dict.fromkeys(("parse_condition",), "conditions"),
    **dict.fromkeys(("CondBlock", "FileScan", "IncludeDirective", "MacroDef", "ScanError", "scan_directives"),
                    "directives"),
    **dict.fromkeys(("ScanCache",), "scancache"),
    **dict.fromkeys(("Definition", "index_file"), "cindex"),
    **dict.fromkeys(("SymbolIndex",), "symbols"),
    **dict.fromkeys(("TagUse", "tag_use_sites", "tag_uses", "used_identifiers"), "uses"),
}

__all__ = list(_HOME)


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
