"""Turn "flip option X" into a Kconfig-valid configuration and the macro changes it implies.

A header's ``#ifdef CONFIG_FOO`` only matters in configurations Kconfig can produce, so a
variant is never just "undefine CONFIG_FOO": hidden options (no prompt) change only when the
options that ``select`` them change, and ``olddefconfig`` silently turns options back on.
Every backend therefore sets what it can, lets the Kconfig engine recompute, and *reads the
value back*; ``Resolution.achieved`` and ``Resolution.changed`` come from that read-back.

Engines (``detect`` picks one):

* ``KconfiglibBackend`` (klib.py) - PyPI kconfiglib, in-process, for small trees.
* ``KernelConfBackend`` (kernel.py) - a Linux tree's own Kconfig implementation: our
  ``kconfig-eval`` helper built from its ``scripts/kconfig`` sources (helper.py), or its
  ``conf --olddefconfig`` on a private ``.config`` when the helper cannot be built.

All share one search (search.py); the pure value helpers live in values.py.
"""

from __future__ import annotations

from pathlib import Path

from .kernel import KernelConfBackend, unprepared_error
from .klib import KconfiglibBackend
from .scan import kconfig_env_from_cmd, kconfig_fingerprint, scan_kconfig_text, scan_kconfig_tree
from .values import (
    KconfigBackend,
    KconfigError,
    Resolution,
    config_line,
    defines_for_changes,
    parse_dotconfig,
    plain_flip,
)

__all__ = [
    "KconfigBackend", "KconfigError", "KconfiglibBackend", "KernelConfBackend", "Resolution", "config_line",
    "defines_for_changes", "detect", "kconfig_env_from_cmd", "kconfig_fingerprint",
    "parse_dotconfig", "plain_flip", "scan_kconfig_text", "scan_kconfig_tree",
]


def detect(root: Path, kconfig: Path | None, config: Path | None,
           workdir: Path) -> KconfigBackend | None:
    """The backend for ``root``, or None for a tree without (usable) Kconfig.

    Raises ``KconfigError`` when a Kconfig is there but kconfiglib cannot parse it, or a Linux tree is not
    prepared (its Kconfig could only be evaluated by writing into it): silently falling back to plain macro flips
    would test configurations Kconfig never produces, and every flip failing would say so once per variant.
    """
    cfg = config or root / ".config"
    if not cfg.is_file():
        return None
    kdir = root / "scripts" / "kconfig"
    linux_tree = ((kdir / "conf").exists() or (kdir / "Makefile").exists()) and (root / "arch").is_dir()
    if linux_tree and kconfig is None:
        backend = KernelConfBackend(root, cfg, workdir)
        if backend.mode == "unprepared":
            raise unprepared_error(root)
        return backend
    kpath = root / (kconfig or "Kconfig")  # an absolute ``kconfig`` stays itself
    return KconfiglibBackend(root, kpath, cfg) if kpath.is_file() else None
