#!/usr/bin/env python3
"""Mutation benchmark for closure-wide fragility (issue 14): remove an ``#else`` stub, see who finds it.

1. pick: mechanically, every ``#ifdef CONFIG_X`` / ``#if IS_ENABLED(CONFIG_X)`` / ``#if defined(CONFIG_X)``
   in include/linux, include/net and arch/x86/include whose ``#else`` branch defines something (the
   stub), with X set in the tree's .config and the file in the include closure of an i915 header;
   taken round-robin over the three directories in path order (never chosen by hand).
2. verify, in a private git worktree of the tree: the configuration with X off comes from the
   kernel's own Kconfig (``scripts/kconfig/conf`` through hdrtest's backend); the kernel's header-test
   rule ``gcc $(c_flags) -S -o /dev/null -x c /dev/null -include H`` (c_flags of an i915 object, the
   configuration change as a forced header of #undef/#define lines) must pass before the removal and
   fail after it, for an i915 header H whose text names none of the names the stub defined.
3. detect: ``hdrtest check H`` in the worktree, unprompted and with ``--changed-since HEAD``; found
   when a failing variant turns X off (directly or as an implied change).

Usage: bench/mutations.py --linux /work/linux --work /tmp/me-mut [--limit N] [--headers K] [--pick-only]
Writes one JSON line per candidate to --work/results.jsonl and prints the counts measured.
The include/generated headers are not regenerated for X off in step 2 (hdrtest's variants are);
step 2 is the kernel's rule with the configuration passed as macros.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from hdrtest import kconfig  # noqa: E402 - after the path setup above
from hdrtest.graph.includes import IncludeGraph  # noqa: E402
from hdrtest.graph.resolve import SearchPath  # noqa: E402
from hdrtest.graph.vcs import git  # noqa: E402
from hdrtest.scan.directives import scan_directives  # noqa: E402
from hdrtest.toolchain.run import run  # noqa: E402

DIRS = ("include/linux", "include/net", "arch/x86/include")
I915 = "drivers/gpu/drm/i915"
_OPTION = re.compile(r"^\s*(?:defined\s*\(?\s*(CONFIG_\w+)\s*\)?|IS_ENABLED\s*\(\s*(CONFIG_\w+)\s*\)|(CONFIG_\w+))\s*$")
_DEFINED_NAME = re.compile(r"#\s*define\s+(\w+)|\b(?:struct|union|enum)\s+(\w+)\s*\{|(\w+)\s*\([^;{]*\)\s*\{")
#: Word-size options: a .config flip keeps the build's -m64, so no header test can turn them off.
_ABI = {"CONFIG_64BIT", "CONFIG_32BIT", "CONFIG_X86_32", "CONFIG_X86_64"}
_BUILD_OUTPUTS = (".config", "include/generated", "include/config", "arch/x86/include/generated",
                  "scripts/kconfig/conf", "scripts/basic/fixdep", "compile_commands.json")


@dataclass
class Candidate:
    file: str
    option: str
    if_line: int
    else_line: int
    endif_line: int
    stubbed: list[str]
    headers: list[str] = field(default_factory=list)  # i915 headers whose closure holds the file
    verified: list[str] = field(default_factory=list)  # of those, broken by the removal with X off
    unprompted: bool | None = None
    with_change: bool | None = None
    note: str = ""


def _option(block_kind: str, expr: str) -> str | None:
    if block_kind == "ifdef":
        word = expr.strip().split()
        return word[0] if word and word[0].startswith("CONFIG_") else None
    if block_kind != "if":
        return None
    m = _OPTION.match(expr)
    return next((g for g in m.groups() if g), None) if m else None


def stubs_in(path: Path, rel: str, config: dict[str, str]) -> list[Candidate]:
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        scan = scan_directives(text, rel)
    except Exception:  # noqa: BLE001 - an unbalanced file has no reliable branches
        return []
    lines = text.split("\n")
    out = []
    blocks = scan.conditionals
    for first, second in zip(blocks, blocks[1:]):
        option = _option(first.kind, first.expr)
        if option is None or second.kind != "else" or second.start_line != first.end_line:
            continue
        if config.get(option, "n") not in ("y", "m") or option in _ABI:
            continue
        body = "\n".join(lines[second.start_line:second.end_line - 1])
        names = sorted({next(g for g in m.groups() if g) for m in _DEFINED_NAME.finditer(body)})
        if names:
            out.append(Candidate(rel, option, first.start_line, second.start_line, second.end_line, names))
    return out


def i915_graph(linux: Path) -> tuple[IncludeGraph, list[Path], list[str], Path]:
    entries = json.loads((linux / "compile_commands.json").read_text())
    entry = next(e for e in entries if f"/{I915}/" in e["file"])
    args = entry.get("arguments") or shlex.split(entry["command"])
    directory = Path(entry["directory"])
    flags = [a for a in args[1:] if a not in ("-c", "-o") and not a.endswith((".c", ".o"))]
    headers = sorted((linux / I915).rglob("*.h"))
    search = SearchPath.from_flags(tuple(flags), directory, args[0], "c")
    return IncludeGraph.build(headers, search), headers, flags, directory


def _closure_words(graph: IncludeGraph, headers: list[Path]) -> dict[str, int]:
    """How often each identifier occurs over the files of the i915 headers' closures."""
    counts: dict[str, int] = {}
    seen: set[Path] = set()
    for header in headers:
        for path in graph.closure(header):
            if path in seen:
                continue
            seen.add(path)
            for word in re.findall(r"\b[A-Za-z_]\w*", path.read_text(errors="replace")):
                counts[word] = counts.get(word, 0) + 1
    return counts


def pick(linux: Path) -> list[Candidate]:
    config = kconfig.parse_dotconfig((linux / ".config").read_text())
    graph, headers, _, _ = i915_graph(linux)
    users: dict[str, list[str]] = {}
    for header in headers:
        for path in graph.closure(header):
            users.setdefault(str(path), []).append(str(header.relative_to(linux)))
    words = _closure_words(graph, headers)
    per_dir: list[list[Candidate]] = []
    for top in DIRS:
        found = []
        for path in sorted((linux / top).rglob("*.h")):
            if str(path) in users:
                for cand in stubs_in(path, str(path.relative_to(linux)), config):
                    # A header compile can only break on a stubbed name some header uses: the name must
                    # be named in the closure at least once beyond its two definitions.
                    if any(words.get(name, 0) > 2 for name in cand.stubbed):
                        cand.headers = users[str(path)]
                        found.append(cand)
        per_dir.append(found)
    ordered = []
    for i in range(max(len(f) for f in per_dir)):
        ordered.extend(f[i] for f in per_dir if i < len(f))
    return ordered


def worktree(linux: Path, where: Path) -> Path:
    if not where.exists():
        git(linux, "worktree", "add", "--detach", str(where), "HEAD")
        for rel in _BUILD_OUTPUTS:
            src, dst = linux / rel, where / rel
            if src.is_dir():
                shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)
            elif src.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
        db = where / "compile_commands.json"
        db.write_text(db.read_text().replace(str(linux), str(where)))
    return where


def mutate(tree: Path, cand: Candidate, undo: bool = False) -> None:
    path = tree / cand.file
    if undo:
        git(tree, "checkout", "--", cand.file)
        return
    lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
    del lines[cand.else_line - 1:cand.endif_line - 1]  # the #else line and its body; #endif stays
    path.write_text("\n".join(lines), encoding="utf-8")


def header_test(tree: Path, flags: list[str], directory: Path, header: str, forced: Path) -> bool:
    command = ["gcc", *[f.replace(str(directory), str(tree)) for f in flags if f != "-fsyntax-only"],
               "-S", "-o", "/dev/null", "-x", "c", "/dev/null", "-include", str(forced), "-include",
               str(tree / header)]
    return run(command, cwd=tree, timeout=300).returncode == 0


def verify(tree: Path, linux: Path, cand: Candidate, flags: list[str], directory: Path, limit: int,
           backend: kconfig.KernelConfBackend, tries: int) -> None:
    resolution = backend.flip(cand.option, "n")
    if resolution is None or not resolution.achieved:
        cand.note = "Kconfig does not allow it off"
        return
    with tempfile.NamedTemporaryFile("w", suffix=".h", delete=False) as handle:
        for name, value in resolution.defines:
            handle.write(f"#undef {name}\n" + (f"#define {name} {value}\n" if value is not None else ""))
        forced = Path(handle.name)
    try:
        for header in cand.headers[:tries]:
            if len(cand.verified) >= limit:
                break
            text = (tree / header).read_text(errors="replace")
            if any(re.search(rf"\b{re.escape(n)}\b", text) for n in cand.stubbed):
                continue
            if not header_test(tree, flags, directory, header, forced):
                continue  # fails without the removal: not this stub's doing
            mutate(tree, cand)
            try:
                if not header_test(tree, flags, directory, header, forced):
                    cand.verified.append(header)
            finally:
                mutate(tree, cand, undo=True)
    finally:
        forced.unlink()


def detected(tree: Path, header: str, option: str, cache: Path, *extra: str) -> bool:
    out = run([sys.executable, "-m", "hdrtest", "check", "-q", "--cache-dir", str(cache), "--format", "json",
               *extra, header], cwd=tree,
              timeout=3600, limit=1 << 28)
    try:
        data = json.loads(out.out)
    except ValueError:
        return False
    for result in data.get("results", []):
        if result["status"] == "fail" and result["variant"]["name"] != "baseline":
            variant = result["variant"]
            if any(c["option"] == option and c["value"] == "n" for c in variant["changes"] + variant["implied"]):
                return True
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--linux", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=30, help="candidates to verify and measure")
    parser.add_argument("--headers", type=int, default=1, help="verified i915 headers per candidate")
    parser.add_argument("--tries", type=int, default=6, help="i915 headers tried per candidate (in path order)")
    parser.add_argument("--start", type=int, default=0, help="skip the first N candidates (continue a run)")
    parser.add_argument("--pick-only", action="store_true")
    args = parser.parse_args()
    linux = args.linux.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    candidates = pick(linux)
    print(f"{len(candidates)} candidate #else stubs reachable from i915 headers "
          f"({', '.join(f'{d}: {sum(c.file.startswith(d) for c in candidates)}' for d in DIRS)})")
    if args.pick_only:
        for cand in candidates[:args.limit]:
            print(f"  {cand.file}:{cand.else_line} {cand.option} stubs {', '.join(cand.stubbed[:4])}")
        return 0
    tree = worktree(linux, args.work / "linux")
    git(tree, "checkout", "--", ".")  # an interrupted earlier run may have left a removal in place
    _, _, flags, directory = i915_graph(tree)
    backend = kconfig.KernelConfBackend(tree, tree / ".config", args.work / "kconfig")
    measured = []
    with open(args.work / "results.jsonl", "a", encoding="utf-8") as log:
        for cand in candidates[args.start:]:
            if len(measured) >= args.limit:
                break
            verify(tree, linux, cand, flags, directory, args.headers, backend, args.tries)
            if cand.verified:
                header = cand.verified[0]
                mutate(tree, cand)
                try:
                    cache = args.work / "cache"
                    cand.unprompted = detected(tree, header, cand.option, cache)
                    cand.with_change = detected(tree, header, cand.option, cache, "--changed-since", "HEAD")
                finally:
                    mutate(tree, cand, undo=True)
                measured.append(cand)
            log.write(json.dumps(asdict(cand)) + "\n")
            log.flush()
            print(f"{cand.file}:{cand.else_line} {cand.option}: verified {len(cand.verified)}, "
                  f"unprompted {cand.unprompted}, with change {cand.with_change} {cand.note}", flush=True)
    found = sum(1 for c in measured if c.unprompted)
    given = sum(1 for c in measured if c.with_change)
    print(f"measured {len(measured)} verified mutations: unprompted {found}, with the change {given}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
