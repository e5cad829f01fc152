"""SARIF output: valid against the 2.1.0 schema, and what GitHub code scanning relies on."""

from __future__ import annotations

import difflib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from hdrtest.check import check
from hdrtest.models import CheckReport, Note, Status
from hdrtest.report import registry, sarif
from hdrtest.report.context import ReportContext
from hdrtest.settings import Settings

SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"


def _tree(root: Path, shift: int = 0) -> None:
    """bad.h fails; two headers fail through it; ext.h is outside the root; missing.h includes nothing."""
    (root / "inc").mkdir(parents=True, exist_ok=True)
    (root.parent / "ext").mkdir(exist_ok=True)
    pad = "/* a comment line that moves everything down */\n" * shift
    (root / "inc" / "bad.h").write_text(pad + "#pragma once\nstruct inner;\nstruct outer { struct inner member; };\n")
    (root / "inc" / "user1.h").write_text("#pragma once\n#include \"bad.h\"\n")
    (root / "inc" / "user2.h").write_text("#pragma once\n" + pad + "#include \"bad.h\"\n")
    (root / "inc" / "good.h").write_text("#pragma once\nstruct good { int x; };\n")
    (root / "inc" / "missing.h").write_text("#pragma once\n#include <no_such_header.h>\n")
    (root / "inc" / "uses_ext.h").write_text("#pragma once\n\n#include <ext.h>\n")
    (root.parent / "ext" / "ext.h").write_text("#pragma once\nstruct e { unknown_t v; };\n")


def _settings(root: Path, **changes: Any) -> Settings:
    return Settings(root=root, cflags=("-std=c11", f"-I{root.parent / 'ext'}"), jobs=2, no_cache=True,
                    variants="none", **changes)


def _report(root: Path, shift: int = 0) -> CheckReport:
    _tree(root, shift)
    return check(_settings(root), [str(root / "inc")])


def _validate(document: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    errors = sorted(validator_class(schema).iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


def test_sarif_is_valid_and_complete(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    report = _report(root)
    statuses = {r.job.display: r.status for r in report.results}
    assert statuses["inc/good.h"] is Status.PASS and statuses["inc/bad.h"] is Status.FAIL
    text = registry.render(ReportContext(report), "sarif")
    document = json.loads(text)
    _validate(document)

    assert document["version"] == "2.1.0" and len(document["runs"]) == 1
    run = document["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "hdrtest" and driver["version"]
    # The home page comes from the package metadata ([project.urls]); absent there, absent here.
    assert driver.get("informationUri") == sarif.information_uri()
    rule_ids = [rule["id"] for rule in driver["rules"]]
    assert rule_ids == ["error-directive", "incomplete-type", "unknown-type", "implicit-function", "undeclared-identifier", "no-member",
                        "redefinition", "missing-include", "include-guard", "unused-definition", "timeout", "compiler-crash",
                        "other"]
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"] and rule["help"]["text"]
    assert run["originalUriBaseIds"]["SRCROOT"]["uri"] == root.resolve().as_uri() + "/"

    results = run["results"]
    for result in results:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uriBaseId"] == "SRCROOT"
        assert not location["artifactLocation"]["uri"].startswith(("/", "file:"))
        assert location["region"]["startLine"] >= 1
        assert "baseline" in result["message"]["text"]  # the variant is named
        assert result["properties"]["variant"] == "baseline" and result["properties"]["status"] == "fail"
    fingerprints = [r["partialFingerprints"][sarif.FINGERPRINT_KEY] for r in results]
    assert len(set(fingerprints)) == len(fingerprints)

    # bad.h's error is reported once, at bad.h:3, for the three headers that hit it.
    incomplete = [r for r in results if "has incomplete type" in r["message"]["text"]]
    assert len(incomplete) == 1
    assert incomplete[0]["ruleId"] == "incomplete-type"
    assert incomplete[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "inc/bad.h"
    assert incomplete[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 3
    assert sorted(incomplete[0]["properties"]["headers"]) == ["inc/bad.h", "inc/user1.h", "inc/user2.h"]
    # The include chain of user1.h's copy is not needed: the finding's own location is in the tree.
    missing = [r for r in results if r["ruleId"] == "missing-include"]
    assert [m["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for m in missing] == ["inc/missing.h"]

    # The error inside ext.h (outside the root) is shown at the #include that reached it.
    external = [r for r in results if "unknown_t" in r["message"]["text"]]
    assert len(external) == 1
    place = external[0]["locations"][0]["physicalLocation"]
    assert place["artifactLocation"]["uri"] == "inc/uses_ext.h" and place["region"]["startLine"] == 3
    assert external[0]["properties"]["originalLocation"].endswith("ext/ext.h:2")
    assert run["invocations"][0]["executionSuccessful"] is True


def test_fingerprints_survive_line_shifts(tmp_path: Path) -> None:
    before = json.loads(sarif.render(ReportContext(_report(tmp_path / "a" / "tree"))))["runs"][0]["results"]
    after = json.loads(sarif.render(ReportContext(_report(tmp_path / "b" / "tree", shift=5))))["runs"][0]["results"]

    def by_rule(results: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[str, int]]:
        return {(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]):
                (r["partialFingerprints"][sarif.FINGERPRINT_KEY],
                 r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in results}

    old, new = by_rule(before), by_rule(after)
    assert len(old) == len(before) == 3 and old.keys() == new.keys()
    key = ("incomplete-type", "inc/bad.h")
    assert new[key][1] == old[key][1] + 5  # it moved ...
    assert {k: v[0] for k, v in old.items()} == {k: v[0] for k, v in new.items()}  # ... and kept its identity


def test_timeouts_become_notifications(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    _tree(root)
    # A compiler that is slow for sure: a tiny timeout on a real compile races the scheduler on a loaded machine.
    slow_cc = tmp_path / "slowcc"
    slow_cc.write_text('#!/bin/sh\ncase "$*" in *good.h*) sleep 30;; esac\nexec gcc "$@"\n')
    slow_cc.chmod(0o755)
    slow = check(_settings(root, timeout=0.5, cc=str(slow_cc)), [str(root / "inc" / "good.h")])
    assert [r.status for r in slow.results] == [Status.TIMEOUT]
    document = json.loads(sarif.render(ReportContext(slow)))
    _validate(document)
    run = document["runs"][0]
    assert run["results"] == []
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert len(notes) == 1 and notes[0]["associatedRule"]["id"] == "timeout"
    assert notes[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "inc/good.h"
    assert "did not finish" in notes[0]["message"]["text"]


def test_notes_become_related_locations_and_fixes(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    report = _report(root)
    old = (root / "inc" / "bad.h").read_text()
    new = old.replace("struct inner;\n", "struct inner { int v; };\n")
    patch = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), "a/inc/bad.h", "b/inc/bad.h"))
    bad = next(r for r in report.results if r.job.display == "inc/bad.h")
    error = next(d for d in bad.diagnostics if d.is_error)
    error.notes = [Note("'struct inner' is declared here but never defined", file="inc/bad.h", line=2),
                   Note("define it", file="inc/bad.h", line=2, kind="fix", fix_diff=patch)]
    document = json.loads(sarif.render(ReportContext(report)))
    _validate(document)
    result = next(r for r in document["runs"][0]["results"] if "has incomplete type" in r["message"]["text"])
    related = [(r["physicalLocation"]["artifactLocation"]["uri"], r["physicalLocation"]["region"]["startLine"],
                r["message"]["text"]) for r in result["relatedLocations"]]
    assert ("inc/bad.h", 2, "'struct inner' is declared here but never defined") in related
    assert len({r["id"] for r in result["relatedLocations"]}) == len(related)
    assert "```diff" in result["message"]["markdown"]
    (fix,) = result["fixes"]
    assert fix["description"]["text"] == "define it"
    assert _apply(old, fix["artifactChanges"][0]["replacements"]) == new


def _apply(text: str, replacements: list[dict[str, Any]]) -> str:
    """Apply SARIF whole-line replacements (column 1 to column 1), last first."""
    lines = text.splitlines(True)
    for item in sorted(replacements, key=lambda r: r["deletedRegion"]["startLine"], reverse=True):
        region = item["deletedRegion"]
        assert region["startColumn"] == 1 and region["endColumn"] == 1
        start, end = region["startLine"] - 1, region["endLine"] - 1
        lines[start:end] = item["insertedContent"]["text"].splitlines(True)
    return "".join(lines)


@pytest.mark.parametrize("context", [0, 1, 3])
def test_fix_round_trips_any_unified_diff(context: int) -> None:
    old = "".join(f"line {i}\n" for i in range(1, 41))
    new = old.replace("line 2\n", "").replace("line 20\n", "line twenty\nline 20.5\n").replace(
        "line 40\n", "line 40\nline 41\n")
    new = "first\n" + new
    patch = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), "a/x.h", "b/x.h", n=context))
    fix = sarif.fix_from_diff(Note("edit", fix_diff=patch), "x.h")
    assert fix is not None
    (change,) = fix["artifactChanges"]
    assert change["artifactLocation"]["uri"] == "x.h"
    assert _apply(old, change["replacements"]) == new


def test_fix_outside_the_tree_is_not_offered() -> None:
    patch = "--- /usr/include/x.h\n+++ /usr/include/x.h\n@@ -1 +1 @@\n-a\n+b\n"
    assert sarif.fix_from_diff(Note("edit", fix_diff=patch), "inc/x.h") is None
    assert sarif.fix_from_diff(Note("edit", fix_diff="not a diff"), "inc/x.h") is None


def test_variants_are_kept_apart(tmp_path: Path) -> None:
    from hdrtest.models import OptionSetting, Variant

    root = tmp_path / "tree"
    report = _report(root)
    bad = next(r for r in report.results if r.job.display == "inc/bad.h")
    variant = Variant(name="CONFIG_X=n", changes=(OptionSetting("CONFIG_X", "n"),), defines=(("CONFIG_X", None),),
                      reason="CONFIG_X guards something")
    twin = replace(bad, job=replace(bad.job, variant=variant))
    both = CheckReport(root=report.root, results=report.results + [twin])
    results = json.loads(sarif.render(ReportContext(both)))["runs"][0]["results"]
    incomplete = [r for r in results if "has incomplete type" in r["message"]["text"]]
    assert sorted(r["properties"]["variant"] for r in incomplete) == ["CONFIG_X=n", "baseline"]
    assert len({r["partialFingerprints"][sarif.FINGERPRINT_KEY] for r in incomplete}) == 2
    shown = next(r for r in incomplete if r["properties"]["variant"] == "CONFIG_X=n")
    assert "CONFIG_X=n" in shown["message"]["text"] and shown["properties"]["variantReason"]


def test_baseline_state_marks_new_and_unchanged_results(tmp_path: Path) -> None:
    from hdrtest import baseline

    root = tmp_path / "tree"
    known = baseline.from_report(_report(root))
    (root / "inc" / "fresh.h").write_text("#pragma once\nstruct f { missing_t v; };\n")
    report = _report(root, shift=2)  # known errors moved down two lines: still known
    document = json.loads(registry.render(ReportContext(report, baseline=known), "sarif"))
    _validate(document)
    states = {(r["properties"]["header"], r["message"]["text"].split(" when ")[0]): r["baselineState"]
              for r in document["runs"][0]["results"]}
    assert states.pop(("inc/fresh.h", "unknown type name \u2018missing_t\u2019")) == "new"
    assert states and set(states.values()) == {"unchanged"}
    # JSON carries the same label per error; without a baseline, neither format has one.
    as_json = json.loads(registry.render(ReportContext(report, baseline=known), "json"))
    errors = [d for r in as_json["results"] for d in r["diagnostics"]
              if d["severity"] in ("error", "fatal error")]
    assert {d["baseline"] for d in errors} == {"new", "unchanged"}
    plain = json.loads(registry.render(ReportContext(_report(root)), "sarif"))
    assert all("baselineState" not in r for r in plain["runs"][0]["results"])
