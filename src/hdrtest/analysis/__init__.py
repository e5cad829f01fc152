"""Analyses over a scanned tree that feed variant planning: which plain macros are real switches
(``knobs``), and which files break when an option turns off a definition they use (``facts``,
``fragility``)."""
