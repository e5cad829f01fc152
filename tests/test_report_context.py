"""Every format over one context: the reproducer and the note lines are the same records in each."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

from hdrtest import baseline
from hdrtest.check import check
from hdrtest.compile import CompileOptions, compile_job
from hdrtest.explain import explain_report
from hdrtest.models import CheckReport, OptionSetting, Result, Variant
from hdrtest.report import html, registry
from hdrtest.report.context import ReportContext
from hdrtest.report.lines import note_lines, reproducer
from hdrtest.settings import Settings

OFF = Variant(name="CONFIG_FOO=n", changes=(OptionSetting("CONFIG_FOO", "n"),), defines=(("CONFIG_FOO", None),),
              config_lines=("# CONFIG_FOO is not set",))


def _variant_failure(root: Path) -> tuple[CheckReport, Settings, Result]:
    """A header that fails, compiled for real, in a variant with CONFIG_FOO off, explained."""
    (root / "inc").mkdir(parents=True)
    (root / "inc" / "guarded.h").write_text(
        "#pragma once\n#ifdef CONFIG_FOO\nstruct foo { int x; };\n#endif\nstruct user { struct foo f; };\n")
    settings = Settings(root=root, cflags=("-std=c11", "-DCONFIG_FOO=1"), jobs=1, no_cache=True, variants="none")
    report = check(settings, [str(root / "inc")])
    failing = compile_job(replace(report.results[0].job, variant=OFF), CompileOptions(root=root))
    report = CheckReport(root=root, results=[*report.results, failing])
    explain_report(report, settings, triage_results=False)
    return report, settings, failing


def test_every_format_shows_the_one_reproducer_and_note_lines(tmp_path: Path) -> None:
    report, _, failing = _variant_failure(tmp_path / "tree")
    assert failing.status.failed
    steps = reproducer(failing)
    assert steps[0].startswith("cd ") and "#undef CONFIG_FOO" in steps[1] and "# CONFIG_FOO is not set" in steps[2]
    error = next(d for d in failing.diagnostics if d.is_error)
    assert error.diagnosis is not None and error.diagnosis.guard == "defined(CONFIG_FOO)"
    notes = note_lines(error)
    assert notes and all(": note: " in line or line.startswith("    ") for line in notes)
    context = ReportContext(report)

    text = registry.render(context, "text").splitlines()
    assert "reproduce: " + steps[0] in text and all("  " + step in text for step in steps[1:])
    assert all(line in text for line in notes)
    cell = next(c for c in html.page_data(report)["cells"] if c["variant"] == OFF.name)
    assert cell["reproduce"].splitlines() == steps
    assert [f"{n['place']}: note: {n['message']}" for n in cell["notes"]] == \
        [line for line in notes if ": note: " in line]
    sarif = json.loads(registry.render(context, "sarif"))["runs"][0]["results"]
    (result,) = [r for r in sarif if r["properties"]["variant"] == OFF.name]
    assert result["properties"]["reproduce"] == steps[0]
    assert "\n".join(steps) in result["message"]["markdown"]
    junit = ET.fromstring(registry.render(context, "junit"))
    body = next(f.text or "" for f in junit.iter("failure"))
    assert all(line in body.splitlines() for line in notes)
    (issue,) = [i for i in json.loads(registry.render(context, "codeclimate")) if OFF.describe() in i["description"]]
    assert issue["content"]["body"].splitlines() == notes
    as_json = json.loads(registry.render(context, "json"))
    (variant,) = [r for r in as_json["results"] if r["variant"]["name"] == OFF.name]
    assert [d["diagnosis"]["kind"] for d in variant["diagnostics"] if "diagnosis" in d] == ["conditional"]


def test_a_baseline_context_shows_only_new_failures_and_labels_them(tmp_path: Path) -> None:
    report, _, failing = _variant_failure(tmp_path / "tree")
    known = baseline.from_report(report)
    (tmp_path / "tree" / "inc" / "fresh.h").write_text("#pragma once\nstruct f { missing_t v; };\n")
    fresh = check(Settings(root=tmp_path / "tree", cflags=("-std=c11",), jobs=1, no_cache=True, variants="none"),
                  [str(tmp_path / "tree" / "inc" / "fresh.h")])
    both = CheckReport(root=report.root, results=[*report.results, *fresh.results])
    context = ReportContext(both, baseline=known)
    text = registry.render(context, "text")
    assert [line.split()[2] for line in text.splitlines() if line.startswith("NEW ")] == ["inc/fresh.h"]
    states = {d.baseline_state for r in both.failures for d in r.diagnostics if d.is_error}
    assert states == {"new", "unchanged"}
