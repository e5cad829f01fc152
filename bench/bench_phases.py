"""Where a ``hdrtest check`` run spends its CPU: per phase, hdrtest's own and its children's, by kind.

    python bench/bench_phases.py --cache-dir /tmp/x -- check --no-closure-analysis drivers/gpu/drm/i915
    python bench/bench_phases.py --cwd /tmp/kwt --cache-dir /tmp/y -- check --changed-since HEAD

Runs the command in this process with the phases of ``check`` wrapped: for each, wall seconds, the
process's own CPU seconds (user+sys, every thread) and the CPU seconds of the programs it ran, by kind
(compile, cpp for dedupe, Kbuild prepare units, dependency runs, git, the kconfig-eval build and process).
On a shared machine wall time is mostly waiting; the CPU figures are what a phase costs.
Child CPU comes from ``wait4`` on each child, so it is exact per child and attributed to the phase that
was running when the child ended (phases run one after the other; work inside one runs in threads).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO / "src") not in sys.path:
    sys.path.insert(0, str(REPO / "src"))

from hdrtest import check, variants  # noqa: E402 - after the path setup above
from hdrtest.analysis import fragility  # noqa: E402
from hdrtest.cli import main as cli_main  # noqa: E402
from hdrtest.kconfig import helper, kernel  # noqa: E402
from hdrtest.toolchain import run as runmod  # noqa: E402

_lock = threading.Lock()
_stack: list[str] = ["(outside)"]
child_cpu: dict[str, Counter[str]] = defaultdict(Counter)
child_count: dict[str, Counter[str]] = defaultdict(Counter)
phase_wall: Counter[str] = Counter()
phase_self: Counter[str] = Counter()
phase_calls: Counter[str] = Counter()
_helpers: list[Any] = []


def _kind(args: list[str]) -> str:
    text = " ".join(args)
    if args and Path(args[0]).name == "git":
        return "git"
    if "kconfig-eval" in text:
        return "kconfig-eval build" if "-o" in args else "kconfig-eval"
    if text.endswith(("bounds.c", "asm-offsets.c")):
        return "kbuild prepare unit"
    if args and Path(args[0]).name == "bc":
        return "bc"
    if "-E" in args:
        return "dedupe cpp"
    if "-M" in args:
        return "deps (-M)"
    variant = any("variant-" in a for a in args)
    return ("variant" if variant else "baseline") + (" compile" if "-MD" in args else " compile (text rerun)")


class _Popen(subprocess.Popen):  # type: ignore[type-arg]
    """Popen recording each child's rusage (wait4) under the phase running when it ends."""

    def _record(self, usage: Any) -> None:
        kind = _kind([str(a) for a in self.args])
        with _lock:
            phase = _stack[-1]
            child_cpu[phase][kind] += usage.ru_utime + usage.ru_stime
            child_count[phase][kind] += 1

    def _try_wait(self, wait_flags: int) -> tuple[int, int]:
        try:
            pid, sts, usage = os.wait4(self.pid, wait_flags)
        except ChildProcessError:
            return self.pid, 0
        if pid == self.pid:
            self._record(usage)
        return pid, sts

    def _internal_poll(self, _deadstate: Any = None, **_ignored: Any) -> int | None:
        if self.returncode is None:
            if not self._waitpid_lock.acquire(False):
                return None
            try:
                if self.returncode is not None:
                    return self.returncode
                pid, sts, usage = os.wait4(self.pid, os.WNOHANG)
                if pid == self.pid:
                    self._record(usage)
                    self._handle_exitstatus(sts)
            except ChildProcessError:
                if _deadstate is not None:
                    self.returncode = _deadstate
            finally:
                self._waitpid_lock.release()
        return self.returncode


def _self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _wrap(owner: Any, name: str, label: str) -> None:
    original: Callable[..., Any] | None = getattr(owner, name, None)
    if original is None:
        return  # not in this version of hdrtest

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        with _lock:
            _stack.append(label)
        wall, cpu = time.monotonic(), _self_cpu()
        try:
            return original(*args, **kwargs)
        finally:
            with _lock:
                _stack.pop()
                phase_wall[label] += time.monotonic() - wall
                phase_self[label] += _self_cpu() - cpu
                phase_calls[label] += 1

    setattr(owner, name, timed)


def instrument() -> None:
    runmod.subprocess.Popen = _Popen  # type: ignore[misc]
    for owner, name, label in [
        (check, "discover", "discover"), (check, "flag_source", "flag source"),
        (check, "baseline_jobs", "baseline jobs"), (check, "select_changed", "select changed (graph)"),
        (check, "not_built", "not built"), (check, "plan_all_variants", "plan variants (all)"),
        (check, "kconfig_for", "kconfig backend"), (check, "touched_options", "  touched options"),
        (variants, "scan_context", "  scan context (graphs)"), (variants, "header_reasons", "  relevance"),
        (fragility, "add_closure_fragility", "  closure fragility"), (variants.Flipper, "prefetch", "  prefetch"),
        (variants.Flipper, "resolve", "  kconfig flips"), (variants, "_drop_unbuilt", "  drop unbuilt"),
        (variants.kbuild, "fill_preludes", "  kbuild prepare"), (variants, "dedupe", "  dedupe"),
        (check, "run_jobs", "run jobs"), (check, "_explain_failures", "explain"),
        (kernel, "build_helper", "    kconfig-eval build"),
    ]:
        _wrap(owner, name, label)
    original_spawn = helper.spawn

    def spawn(*args: Any, **kwargs: Any) -> Any:
        child = original_spawn(*args, **kwargs)
        _helpers.append(child)
        return child

    helper.spawn = spawn  # type: ignore[assignment]


def _helper_cpu() -> float:
    total = 0.0
    for child in _helpers:
        try:
            fields = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass  # already ended: counted by wait4
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--cwd", type=Path, default=Path.cwd())
    parser.add_argument("--cache-dir", type=Path, required=True)
    parser.add_argument("--json", type=Path)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = [c for c in args.command if c != "--"]
    instrument()
    os.chdir(args.cwd)
    os.environ["XDG_CACHE_HOME"] = str(args.cache_dir)
    load = os.getloadavg()
    wall, cpu = time.monotonic(), _self_cpu()
    # A running kconfig-eval is read before the atexit finaliser ends it.
    import atexit
    helper_cpu: list[float] = []
    atexit.register(lambda: None)
    original_close = kernel.KernelConfBackend.close

    def close(self: Any) -> None:
        helper_cpu.append(_helper_cpu())
        original_close(self)

    kernel.KernelConfBackend.close = close  # type: ignore[method-assign]
    out_fd = os.dup(1)
    with open(os.devnull, "w") as sink:
        os.dup2(sink.fileno(), 1)
        try:
            rc = cli_main([command[0], "--cache-dir", str(args.cache_dir), "-q", *command[1:]])
        finally:
            os.dup2(out_fd, 1)
    total_wall = time.monotonic() - wall
    live_helper = _helper_cpu()
    total_self = _self_cpu() - cpu
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"# {' '.join(command)} in {args.cwd}: exit {rc}, wall {total_wall:.1f} s, hdrtest process CPU "
          f"{total_self:.1f} s, load before {load[0]:.2f} after {os.getloadavg()[0]:.2f}")
    print(f"{'phase':34} {'calls':>6} {'wall s':>8} {'self CPU':>9}  children CPU s by kind (count)")
    labels = list(dict.fromkeys([*phase_wall, *child_cpu]))
    figures: dict[str, Any] = {"exit": rc, "wall": total_wall, "self_cpu": total_self, "load": load[0]}
    for label in labels:
        kids = ", ".join(f"{k} {v:.1f} ({child_count[label][k]})" for k, v in child_cpu[label].most_common())
        print(f"{label:34} {phase_calls[label]:6} {phase_wall[label]:8.1f} {phase_self[label]:9.1f}  {kids}")
        figures[label] = {"calls": phase_calls[label], "wall": phase_wall[label], "self_cpu": phase_self[label],
                          "children": dict(child_cpu[label]), "child_counts": dict(child_count[label])}
    kinds: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    for label in labels:
        kinds.update(child_cpu[label])
        counts.update(child_count[label])
    print("children total: " + ", ".join(f"{k} {v:.1f} s ({counts[k]})" for k, v in kinds.most_common()))
    print(f"all waited-for children (getrusage): {children.ru_utime + children.ru_stime:.1f} s")
    print(f"kconfig-eval process CPU (still running at the end): {live_helper or (helper_cpu[0] if helper_cpu else 0):.1f} s")
    figures["children_total"] = dict(kinds)
    figures["children_counts"] = dict(counts)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
