"""Benchmark: ``hdrtest series`` on the kernel stub-removal series, beside ``check --changed-since`` on the same change.

    python bench/bench_series.py --tree /work/linux            # makes the series branch if it is missing

The series is three commits on the tree's HEAD (a comment in gvt/debug.h; the removal of the ``#else`` stub of
arch/x86/include/asm/kvm_page_track.h; a documentation line), on a branch ``hdrtest-bench-series``, made with git
plumbing so the tree's checkout, index and HEAD are never touched. Both runs use a fresh cache; the changed-since
run is made in a private worktree of HEAD with the stub removed and not committed (bench/kernel_worktree.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kernel_worktree import STUBBED_HEADER, kernel_worktree, remove_else_stub

BRANCH = "hdrtest-bench-series"
_IDENT = {"GIT_AUTHOR_NAME": "hdrtest", "GIT_AUTHOR_EMAIL": "hdrtest@localhost",
          "GIT_COMMITTER_NAME": "hdrtest", "GIT_COMMITTER_EMAIL": "hdrtest@localhost"}


def git(root: Path, *args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> str:
    proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True,
                          input=stdin, env={**os.environ, **_IDENT, **(env or {})})
    return proc.stdout.strip()


def _commit(root: Path, parent: str, path: str, text: str, subject: str, index: Path) -> str:
    """One commit on ``parent`` that sets ``path`` to ``text``, through a private index."""
    env = {"GIT_INDEX_FILE": str(index)}
    git(root, "read-tree", parent, env=env)
    blob = git(root, "hash-object", "-w", "--stdin", stdin=text)
    mode = git(root, "ls-tree", parent, "--", path).split()[0]
    git(root, "update-index", "--cacheinfo", f"{mode},{blob},{path}", env=env)
    tree = git(root, "write-tree", env=env)
    return git(root, "commit-tree", tree, "-p", parent, "-m", subject)


def ensure_series(root: Path, work: Path) -> str:
    """The series branch (made on HEAD when missing); returns its base commit."""
    try:
        git(root, "rev-parse", "--verify", "-q", f"refs/heads/{BRANCH}")
        return git(root, "rev-parse", f"{BRANCH}~3")
    except subprocess.CalledProcessError:
        pass
    base = git(root, "rev-parse", "HEAD")
    index = work / "series.index"
    debug = "drivers/gpu/drm/i915/gvt/debug.h"
    first = _commit(root, base, debug, git(root, "show", f"{base}:{debug}") + "\n/* reviewed */\n",
                    "gvt: comment in debug.h", index)
    source = git(root, "show", f"{base}:{STUBBED_HEADER}") + "\n"
    start = source.index("#else")
    stripped = source[:start] + source[source.index("#endif", start):]
    second = _commit(root, first, STUBBED_HEADER, stripped,
                     "KVM: x86: drop the page-track stub (breaks gvt.h when tracking is off)", index)
    doc = "Documentation/gpu/i915.rst"
    third = _commit(root, second, doc, git(root, "show", f"{base}:{doc}") + "\n\n", "docs: i915 blank line", index)
    git(root, "update-ref", f"refs/heads/{BRANCH}", third)
    return base


def timed(argv: list[str], cwd: Path) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds of the process tree, exit code and standard output of one hdrtest run."""
    before = os.times()
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "hdrtest", *argv], cwd=cwd, capture_output=True, text=True,
                          check=False)
    wall = time.monotonic() - started
    after = os.times()
    if proc.returncode not in (0, 1):
        print(proc.stderr[-2000:], file=sys.stderr)
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system), \
        proc.returncode, proc.stdout


def gvt_verdict(results: list[dict[str, object]]) -> str:
    """Which variants of gvt.h fail in a list of results, as text."""
    names = []
    for result in results:
        if result.get("status") == "fail" and str(result.get("header", "")).endswith("gvt/gvt.h"):
            variant = result.get("variant") or {}
            changes = variant.get("changes", []) if isinstance(variant, dict) else []
            names.append(",".join(f"{c['option']}={c['value']}" for c in changes) or "baseline")
    return "; ".join(names) or "gvt.h not failing"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--tree", type=Path, required=True, help="a prepared Linux tree (bench/setup-linux.sh)")
    parser.add_argument("--out", type=Path, help="keep the work directory (caches, reports) here")
    parser.add_argument("--json", type=Path, help="write the figures as JSON")
    args = parser.parse_args(argv)
    root = args.tree.resolve()
    work = args.out.resolve() if args.out else Path(tempfile.mkdtemp(prefix="bench-series-"))
    work.mkdir(parents=True, exist_ok=True)
    figures: dict[str, object] = {}
    try:
        base = ensure_series(root, work)
        wall, cpu, rc, out = timed(["series", f"{base}..{BRANCH}", "--cache-dir", str(work / "c-series"),
                                    "--format", "json", "-q"], root)
        report = json.loads(out) if out.strip() else {}
        commits = report.get("commits", [])
        figures.update(series_wall_s=wall, series_cpu_s=cpu, series_exit=rc,
                       series_breaking_commits=[c["subject"] for c in commits if c.get("new")],
                       series_gvt=[gvt_verdict([n["result"] for n in c.get("new", [])]) for c in commits],
                       series_first_broken_by=[b["subject"] for b in report.get("still_broken", [])])
        (work / "series.json").write_text(out)
        with kernel_worktree(root, work / "linux") as tree:
            remove_else_stub(tree)
            wall, cpu, rc, out = timed(["check", "--changed-since", "HEAD", "--cache-dir", str(work / "c-changed"),
                                        "--format", "json", "-q"], tree)
        report = json.loads(out) if out.strip() else {}
        figures.update(changed_since_wall_s=wall, changed_since_cpu_s=cpu, changed_since_exit=rc,
                       changed_since_gvt=gvt_verdict(report.get("results", [])))
        (work / "changed-since.json").write_text(out)
    finally:
        if not args.out:
            shutil.rmtree(work, ignore_errors=True)
    series_wall, changed_wall = figures["series_wall_s"], figures["changed_since_wall_s"]
    assert isinstance(series_wall, float) and isinstance(changed_wall, float)
    figures["series_over_changed_since"] = series_wall / changed_wall
    print(f"# hdrtest bench_series, tree {root}, {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, "
          f"{os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}")
    for name, value in figures.items():
        print(f"{name:28} {value:.3f}" if isinstance(value, float) else f"{name:28} {value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
