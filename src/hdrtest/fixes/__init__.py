"""Suggested edits: records and their diff (``edits``), stub text (``stubs``), applying them (``apply``).

Nothing here knows how a check runs or why an edit was proposed: explanations produce
the edits, and the ``hdrtest fix`` command (``hdrtest.fix``) re-checks through a callback.
"""

from __future__ import annotations

from .apply import apply_and_verify, write_changes
from .edits import Edit, FileChange, changes, inside, render_diff, shown_path, split_inside
from .stubs import declaration_text, function_stub, macro_stub, split_function, struct_stub

__all__ = ["Edit", "FileChange", "apply_and_verify", "changes", "declaration_text", "function_stub", "inside",
           "macro_stub", "render_diff", "shown_path", "split_function", "split_inside", "struct_stub", "write_changes"]
