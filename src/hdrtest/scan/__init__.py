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

Each name is imported from the module above that defines it: importing this package loads none of them
(``cindex`` and ``symbols`` bring in tree-sitter, which only explanations and variant planning need).
"""
