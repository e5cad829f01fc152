"""Suggested edits: records and their diff (``edits``), applying them (``apply``).

Nothing here knows how a check runs or why an edit was proposed: explanations produce
the edits, and the ``hdrtest fix`` command (``hdrtest.fix``) re-checks through a callback.
"""

from __future__ import annotations

from .apply import apply_and_verify, write_changes
from .edits import Edit, FileChange, changes, inside, render_diff, shown_path, split_inside

__all__ = ["Edit", "FileChange", "apply_and_verify", "changes", "inside", "render_diff", "shown_path", "split_inside",
           "write_changes"]
