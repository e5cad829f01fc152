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

from .report import explain_report

__all__ = ["explain_report"]
