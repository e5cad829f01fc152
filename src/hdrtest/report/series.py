"""Reports of ``hdrtest series`` and ``hdrtest bisect``.

Each commit reads like the build robot's mail about it (``report.diff.render_text``:
configuration, ``>>`` on new errors, the reproduce steps); the series ends with the
bisectability verdict.  SARIF carries the commit on every result; JUnit has one test
suite per commit.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

from ..baseline import result_key
from ..bisect import BisectResult
from ..diagnostics import render_gcc_style
from ..series import SeriesResult
from . import diff, junit, sarif
from .context import ReportContext
from .serialize import diff_dict


def render_text(series: SeriesResult) -> str:
    lines: list[str] = []
    for number, step in enumerate(series.steps, 1):
        verdict = "breaks" if step.has_new_failures else "ok"
        fixed = f", fixes {len(step.fixed)}" if step.fixed else ""
        lines.append(f"=== [{number}/{len(series.steps)}] {diff.short_commit(step.commit)} {step.subject}: {verdict}"
                     f" ({len(step.new)} new failing check(s){fixed})")
        if step.has_new_failures or step.fixed:
            lines.append(diff.render_text(step).rstrip("\n"))
        lines.append("")
    if series.still_broken:
        lines.append(f"Still broken at {series.head_rev}, by the commit that first broke each:")
        for item in series.still_broken:
            display, language, _variant = item.key
            lines.append(f"   {display} [{language}] in {item.result.job.variant.describe()}: "
                         f"first broken by {diff.short_commit(item.commit)} {item.subject}")
        lines.append("")
    broken_steps = [s for s in series.steps if s.has_new_failures]
    if not broken_steps:
        lines.append(f"hdrtest series: {len(series.steps)} commit(s), every one compiles what its parent compiled")
    else:
        names = ", ".join(diff.short_commit(s.commit) for s in broken_steps)
        repaired = "" if series.still_broken else "; all repaired by the end of the series, but it does not bisect"
        lines.append(f"hdrtest series: {len(series.steps)} commit(s), {len(broken_steps)} break a header check "
                     f"({names}){repaired}")
    return "\n".join(lines) + "\n"


def render_json(series: SeriesResult) -> str:
    document = {
        "schema": "hdrtest-series/1",
        "base": {"rev": series.base_rev, "commit": series.base_commit},
        "head": {"rev": series.head_rev},
        "commits": [{**diff_dict(step), "commit": step.commit, "subject": step.subject} for step in series.steps],
        "still_broken": [{"header": item.key[0], "language": item.key[1], "variant": item.key[2],
                          "first_broken_by": item.commit, "subject": item.subject} for item in series.still_broken],
        "bisectable": series.bisectable,
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def render_sarif(series: SeriesResult) -> str:
    """One run; a result for each error a commit brought, carrying that commit."""
    document: dict[str, Any] | None = None
    results: list[dict[str, Any]] = []
    for step in series.steps:
        ReportContext(step.head, diff=step).mark_states()
        data = sarif.sarif_dict(step.head)
        if document is None:
            document = data
        for result in data["runs"][0]["results"]:
            if result.get("baselineState") != "new":
                continue
            result.setdefault("properties", {}).update({"commit": step.commit, "commitSubject": step.subject})
            results.append(result)
    if document is None:
        return "{}\n"
    run = document["runs"][0]
    run["results"] = results
    run["originalUriBaseIds"][sarif.SRCROOT]["uri"] = series.toplevel.resolve().as_uri() + "/"
    run["invocations"][0]["toolExecutionNotifications"] = []
    run["properties"] = {"base": series.base_commit, "commits": [s.commit for s in series.steps],
                         "bisectable": series.bisectable}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def render_junit(series: SeriesResult) -> str:
    suites = []
    for step in series.steps:
        new_keys = {result_key(c.result) for c in step.new}
        # A check that failed before this commit too is not this commit's failure: it passes here as a test.
        cases = []
        for result in step.head.results:
            case = junit.testcase(result)
            if result.status.failed and result_key(result) not in new_keys:
                for child in [c for c in case if c.tag in ("failure", "error")]:
                    case.remove(child)
                ET.SubElement(case, "skipped", {"message": "failing before this commit too"})
            cases.append(case)
        suites.append(junit.suite(f"{diff.short_commit(step.commit)} {junit.clean(step.subject)}", cases,
                                  sum(r.duration for r in step.head.results)))
    return junit.document("hdrtest series", suites)


#: The formats a series is written in, by name.
FORMATS = {"text": render_text, "json": render_json, "sarif": render_sarif, "junit": render_junit}


def render_bisect(found: BisectResult) -> str:
    lines = [f"{diff.short_commit(found.first_bad.sha)} is the first bad commit: {found.first_bad.subject}",
             (f"   {found.header} in {found.variant.describe()} ({found.probes} commits compiled, "
              f"between {diff.short_commit(found.good)} and {diff.short_commit(found.bad)})"), ""]
    lines.extend("   " + line for diag in found.result.diagnostics for line in render_gcc_style(diag))
    return "\n".join(lines) + "\n"
