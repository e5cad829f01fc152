"""Static knowledge about headers, gathered without compiling them.

- ``conditions``: presence conditions as small boolean formulas over macros.
- ``directives``: a fast preprocessor-directive scanner (conditionals, includes, defines).
- ``includes``: gcc's include search and the include graph of a set of headers.
- ``symbols``: where each struct, typedef, function, variable and macro is defined, and when.
- ``uses``: which identifiers and tags a header refers to.
"""

from __future__ import annotations

from .conditions import (
    FALSE,
    TRUE,
    And,
    Atom,
    Const,
    Defined,
    Formula,
    Not,
    OptionFilter,
    Or,
    conj,
    disj,
    evaluate,
    macros,
    neg,
    parse_condition,
    to_c,
)
from .directives import CondBlock, FileScan, IncludeDirective, MacroDef, ScanError, scan_directives
from .includes import IncludeEdge, IncludeGraph, ScanCache, SearchPath
from .symbols import Definition, SymbolIndex, index_file
from .uses import TagUse, tag_use_sites, tag_uses, used_identifiers

__all__ = [
    "FALSE",
    "TRUE",
    "And",
    "Atom",
    "Const",
    "Defined",
    "Formula",
    "Not",
    "OptionFilter",
    "Or",
    "conj",
    "disj",
    "evaluate",
    "macros",
    "neg",
    "parse_condition",
    "to_c",
    "CondBlock",
    "FileScan",
    "IncludeDirective",
    "MacroDef",
    "ScanError",
    "scan_directives",
    "IncludeEdge",
    "IncludeGraph",
    "ScanCache",
    "SearchPath",
    "Definition",
    "SymbolIndex",
    "index_file",
    "TagUse",
    "tag_use_sites",
    "tag_uses",
    "used_identifiers",
]
