"""Static knowledge about headers, gathered without compiling them.

- ``conditions``: presence conditions as small boolean formulas over macros.
- ``directives``: a fast preprocessor-directive scanner (conditionals, includes, defines).
- ``includes``: gcc's include search and the include graph of a set of headers.
- ``symbols``: where each struct, typedef, function, variable and macro is defined, and when.
- ``uses``: which identifiers and tags a header refers to.
"""

from __future__ import annotations

import importlib
from typing import Any

# Importing a submodule (``conditions`` for every check) must not load them all: ``symbols``
# brings in tree-sitter, which only explanations and variant planning need.
_HOME = {
    **dict.fromkeys(("FALSE", "TRUE", "And", "Atom", "Const", "Defined", "Formula", "Not", "OptionFilter", "Or",
                     "conj", "disj", "evaluate", "macros", "neg", "parse_condition", "to_c"), "conditions"),
    **dict.fromkeys(("CondBlock", "FileScan", "IncludeDirective", "MacroDef", "ScanError", "scan_directives"),
                    "directives"),
    **dict.fromkeys(("IncludeEdge", "IncludeGraph", "ScanCache", "SearchPath"), "includes"),
    **dict.fromkeys(("Definition", "SymbolIndex", "index_file"), "symbols"),
    **dict.fromkeys(("TagUse", "tag_use_sites", "tag_uses", "used_identifiers"), "uses"),
}

__all__ = list(_HOME)


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
