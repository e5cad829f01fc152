"""SIGINT, SIGTERM and SIGHUP: one orderly stop, whichever arrives."""

from __future__ import annotations

import signal
import threading
from typing import Any

from ..toolchain import run


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP: the same orderly stop as Ctrl-C (compilers ended, temporary files removed)."""


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_stop_requested = threading.Event()


def _on_signal(signum: int, _frame: object) -> None:
    # Only the first signal interrupts: a second one must not cut short the clean-up the first started
    # (compilers ended, worktrees removed, edits restored).
    if _stop_requested.is_set():
        return
    _stop_requested.set()
    # End the children now, not after unwinding: unwinding joins worker threads (Kconfig flips, compiles)
    # that would otherwise wait for their children, or start the queued ones.
    run.terminate_all()
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signal.Signals(signum).name)


def install_signal_handlers() -> dict[int, Any]:
    """Route SIGINT, SIGTERM and SIGHUP to one orderly stop; returns the handlers to restore."""
    if threading.current_thread() is not threading.main_thread():
        return {}  # a library caller in a thread keeps its own signal policy
    _stop_requested.clear()
    previous: dict[int, Any] = {}
    for signum in _STOP_SIGNALS:
        current = signal.getsignal(signum)
        if current is signal.SIG_IGN and signum != signal.SIGINT:
            continue  # nohup: the user asked us to ignore it
        previous[signum] = current
        signal.signal(signum, _on_signal)
    return previous


def restore_signal_handlers(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)
