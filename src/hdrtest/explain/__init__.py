"""Explaining failures: where the missing thing is, under which condition, and the fix.

For each classified error the name is looked up in the symbol index (``index``: built
lazily, only when something failed, over the failing headers' include closures and the
include directories of their flags).  The configuration's macro values come from one
``cc -dM -E`` per flag set (``config``), so that a definition's presence condition can
be evaluated the way the compiler saw it (``guards``).  The outcome is a list of
gcc-style notes on the diagnostic, and ``fixes.Edit`` records for ``hdrtest fix``.
The driver is ``report.explain_report``; ``render`` writes a ``Diagnosis`` record's notes.
"""

from __future__ import annotations

from .config import config_values, probe_config
from .context import OWN_NOTE_KINDS
from .guards import guard_directive, hiding_guard, why_false
from .includes import include_spelling
from .report import Explanation, explain_report

__all__ = ["OWN_NOTE_KINDS", "Explanation", "config_values", "explain_report", "guard_directive", "hiding_guard",
           "include_spelling", "probe_config", "why_false"]
