#!/usr/bin/env python3
"""Hold an hdrtest report of a Linux tree against the kernel's own header-test rule, header for header.

The rule (drivers/gpu/drm/i915/Makefile, 6.12): ``$(CC) $(c_flags) -S -o /dev/null -x c /dev/null -include H``.
``c_flags`` are read here from the tree's compile_commands.json entry of the unit hdrtest borrowed them from
(its ``flags_origin``), with Kbuild's own additions for an object compile taken away (``-Wp,-MMD``, ``-c``,
``-o X``, the source), so a mistake in hdrtest's flag handling would show as a disagreement.

--baseline: every baseline result (pass, fail or not verified) against a plain gcc loop with those flags.
--variants: every failing variant, and every variant of a root cause, re-run by the rule in the witness
    configuration: the variant's ``#undef``/``#define`` lines (the Kconfig resolution hdrtest recorded) as a
    forced header after kconfig.h, and the regenerated ``include/generated`` overlay hdrtest used, if any.
    Confirmed when gcc fails and the header passes the rule in the baseline configuration.

Usage: bench/audit_confirm.py --report REPORT.json --work /tmp/me-confirm [--baseline] [--variants] [-j N]
Writes one JSON line per compile to --work/confirm.jsonl and prints the counts.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from hdrtest.toolchain.run import run  # noqa: E402 - after the path setup above


def c_flags(entry: dict[str, Any]) -> list[str]:
    """The unit's compile arguments minus what makes it an object compile of that unit."""
    args = entry.get("arguments") or shlex.split(entry["command"])
    source = Path(entry["directory"], entry["file"])
    out: list[str] = []
    skip = False
    for arg in args[1:]:
        if skip:
            skip = False
            continue
        if arg == "-o":
            skip = True
        elif arg == "-c" or arg.startswith("-Wp,-MMD") or arg.startswith("-Wp,-MD") or source == Path(entry["directory"], arg):
            continue
        else:
            out.append(arg)
    return [args[0], *out]


def unit_of(origin: str) -> str | None:
    """``.../compile_commands.json: drivers/x.c (includes it)`` -> ``drivers/x.c``."""
    if "compile_commands.json: " not in origin:
        return None
    return origin.split("compile_commands.json: ", 1)[1].split(" (", 1)[0]


def overlay(command: list[str], flags: list[str]) -> list[str]:
    """The -I directories hdrtest added for a variant (its regenerated include/generated), in its order."""
    return [a for a in command if a.startswith("-I") and a not in flags]


def rule(flags: list[str], header: Path, forced: Path | None, extra: list[str]) -> list[str]:
    pre = ["-include", str(forced)] if forced is not None else []
    return [flags[0], *extra, *flags[1:], "-S", "-o", "/dev/null", "-x", "c", "/dev/null", *pre,
            "-include", str(header)]


def first_error(text: str) -> str:
    return next((line for line in text.splitlines() if " error: " in line), "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--report", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--baseline", action="store_true")
    ap.add_argument("--variants", action="store_true")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    args = ap.parse_args()
    data = json.loads(args.report.read_text())
    root = Path(data["root"])
    units = {str(Path(e["directory"], e["file"]).relative_to(root)): e
             for e in json.loads((root / "compile_commands.json").read_text())}
    args.work.mkdir(parents=True, exist_ok=True)
    tasks: list[tuple[str, dict[str, Any], list[str], Path | None, list[str]]] = []
    results = data.get("results", [])
    grouped = {(v["header"], v["variant"]) for c in data.get("root_causes", []) for v in c["variants"]}
    for n, r in enumerate(results):
        is_base = r["variant"]["name"] == "baseline"
        unit = unit_of(r["flags_origin"])
        if unit is None or unit not in units:
            continue
        flags = c_flags(units[unit])
        if is_base and args.baseline:
            tasks.append(("baseline", r, flags, None, []))
        elif not is_base and args.variants and (r["status"] == "fail" or (r["header"], r["variant"]["name"]) in grouped):
            forced = args.work / f"config-{n}.h"
            forced.write_text("".join(f"#undef {d['macro']}\n" + (f"#define {d['macro']} {d['value']}\n"
                                                                   if d["value"] is not None else "")
                                      for d in r["variant"]["defines"]))
            tasks.append(("variant", r, flags, forced, overlay(r["command"], flags)))
            tasks.append(("variant-baseline", r, flags, None, []))

    def one(task: tuple[str, dict[str, Any], list[str], Path | None, list[str]]) -> dict[str, Any]:
        kind, r, flags, forced, extra = task
        argv = ["nice", "-n", "15", *rule(flags, root / r["header"], forced, extra)]
        done = run(argv, cwd=units[unit_of(r["flags_origin"]) or ""]["directory"], timeout=600)
        return {"kind": kind, "header": r["header"], "variant": r["variant"]["name"], "hdrtest": r["status"],
                "gcc": "pass" if done.ok else "fail", "error": first_error(done.err), "command": argv[3:]}

    out = args.work / "confirm.jsonl"
    counts: Counter[tuple[str, str, str]] = Counter()
    with ThreadPoolExecutor(args.jobs) as pool, out.open("w") as fh:
        for line in pool.map(one, tasks):
            fh.write(json.dumps(line) + "\n")
            counts[(line["kind"], line["hdrtest"], line["gcc"])] += 1
    for (kind, ours, theirs), n in sorted(counts.items()):
        print(f"{kind:17} hdrtest {ours:10} gcc rule {theirs:5} {n}")
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
