"""Explaining failures: where the missing thing is, under which condition, and the fix.

For each classified error the name is looked up in the symbol index (``index``: built
lazily, only when something failed, over the failing headers' include closures and the
include directories of their flags).  The configuration's macro values come from one
``cc -dM -E`` per flag set (``config``), so that a definition's presence condition can
be evaluated the way the compiler saw it (``guards``).  The outcome is a list of
gcc-style notes on the diagnostic, and ``fixes.Edit`` records for ``hdrtest fix``.
The driver is ``report.explain_report``.
"""

from __future__ import annotations

from .config import ConfigProbe, Values, config_command, config_values, parse_macros, probe_config
from .context import OWN_NOTE_KINDS, Context, DefinitionLike, Explained, IndexLike
from .definitions import explain_definitions, unconditional_files
from .diagnostic import explain_diagnostic, guard_macro
from .files import Files
from .guards import GuardSite, guard_directive, hiding_guard, why_false
from .includes import include_line, include_spelling
from .index import LazyIndex, build_index, closure_paths, index_paths, wider_paths
from .report import Explanation, explain_report, is_explained
from .stubs import stub_blockers, stub_for

__all__ = ["OWN_NOTE_KINDS", "ConfigProbe", "Context", "DefinitionLike", "Explained", "Explanation", "Files",
           "GuardSite", "IndexLike", "LazyIndex", "Values", "build_index", "closure_paths", "config_command",
           "config_values", "explain_definitions", "explain_diagnostic", "explain_report", "guard_directive",
           "guard_macro", "hiding_guard", "include_line", "include_spelling", "index_paths", "is_explained",
           "parse_macros", "probe_config", "stub_blockers", "stub_for", "unconditional_files", "why_false",
           "wider_paths"]
