"""Code Climate JSON for GitLab merge-request annotations."""

from __future__ import annotations

import json
from pathlib import Path

from hdrtest.check import check
from hdrtest.report import registry
from hdrtest.report.context import ReportContext
from hdrtest.settings import Settings


def test_codeclimate_issues(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    (root / "inc").mkdir(parents=True)
    (root / "inc" / "bad.h").write_text("#pragma once\nstruct inner;\nstruct outer { struct inner m; };\n")
    (root / "inc" / "user.h").write_text("#pragma once\n#include \"bad.h\"\n")
    # The same message twice in one file: still two issues with two fingerprints.
    (root / "inc" / "twice.h").write_text("#pragma once\nstruct p { nope_t a; };\nstruct q { nope_t a; };\n")
    (root / "inc" / "good.h").write_text("#pragma once\n")
    settings = Settings(root=root, cflags=("-std=c11",), jobs=2, no_cache=True, variants="none")
    report = check(settings, [str(root / "inc")])
    # A compiler that is slow for sure: a tiny timeout on a real compile races the scheduler on a loaded machine.
    slow_cc = tmp_path / "slowcc"
    slow_cc.write_text('#!/bin/sh\ncase "$*" in *good.h*) sleep 30;; esac\nexec gcc "$@"\n')
    slow_cc.chmod(0o755)
    slow = check(Settings(root=root, cc=str(slow_cc), cflags=("-std=c11",), jobs=1, no_cache=True, variants="none",
                          timeout=0.5), [str(root / "inc" / "good.h")])
    report.results.extend(slow.results)

    issues = json.loads(registry.render(ReportContext(report), "codeclimate"))
    assert isinstance(issues, list)
    for issue in issues:
        assert set(issue) >= {"type", "description", "check_name", "fingerprint", "severity", "location"}
        assert issue["severity"] in ("info", "minor", "major", "critical", "blocker")
        assert not issue["location"]["path"].startswith("/")
        assert issue["location"]["lines"]["begin"] >= 1
    fingerprints = [issue["fingerprint"] for issue in issues]
    assert len(set(fingerprints)) == len(fingerprints) == 4
    places = sorted((i["location"]["path"], i["location"]["lines"]["begin"], i["check_name"]) for i in issues)
    assert places == [("inc/bad.h", 3, "hdrtest/incomplete-type"), ("inc/good.h", 1, "hdrtest/timeout"),
                      ("inc/twice.h", 2, "hdrtest/unknown-type"), ("inc/twice.h", 3, "hdrtest/unknown-type")]
    bad = next(i for i in issues if i["location"]["path"] == "inc/bad.h")
    assert "inc/bad.h and 1 more" in bad["description"] and "baseline" in bad["description"]
    assert next(i for i in issues if i["check_name"] == "hdrtest/timeout")["severity"] == "critical"
