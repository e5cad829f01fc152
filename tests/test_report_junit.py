"""JUnit XML: parsed back, one testcase per header and variant, failures carry the diagnostics."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

from hdrtest.check import check
from hdrtest.models import CheckReport, Diagnostic, OptionSetting, Result, Status, Variant, not_verified
from hdrtest.report import junit, registry
from hdrtest.report.context import ReportContext
from hdrtest.settings import Exclusion, Settings


def _report(root: Path) -> CheckReport:
    (root / "lib" / "net").mkdir(parents=True)
    (root / "lib" / "net" / "bad.h").write_text("#pragma once\nstruct inner;\nstruct outer { struct inner m; };\n")
    (root / "lib" / "good.h").write_text("#pragma once\nstruct good { int x; };\n")
    (root / "top.h").write_text("#pragma once\nint top(void);\n")
    (root / "lib" / "list.def").write_text("X(a)\n")
    (root / "lib" / "xmacro.h").write_text("X(a)\n")
    settings = Settings(root=root, cflags=("-std=c11",), jobs=2, no_cache=True, variants="none",
                        exclude=(Exclusion("lib/xmacro.h", "X-macro list, included with X defined"),))
    return check(settings, [str(root)])


def test_junit_parses_back(tmp_path: Path) -> None:
    report = _report(tmp_path / "tree")
    bad = next(r for r in report.results if r.job.display == "lib/net/bad.h")
    good = next(r for r in report.results if r.job.display == "lib/good.h")
    variant = Variant(name="CONFIG_NET=n", changes=(OptionSetting("CONFIG_NET", "n"),), defines=(("CONFIG_NET", None),))
    extra = [
        # A variant whose verdict hdrtest could not establish.
        not_verified(replace(good.job, variant=variant), "flags borrowed from lib/x.c"),
        # A timeout, with a control character the compiler printed (not allowed in XML 1.0).
        Result(job=replace(bad.job, variant=variant), status=Status.TIMEOUT, duration=60.0,
               diagnostics=[Diagnostic(file="lib/net/bad.h", line=0, column=0, severity="error",
                                       message="compiler did not finish\x1b[0m\x07 within 60 s", category="timeout")]),
    ]
    report = CheckReport(root=report.root, results=report.results + extra, skipped=report.skipped,
                         elapsed=report.elapsed)
    text = registry.render(ReportContext(report), "junit")
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(text)
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    by_name = {case.get("name"): case for case in cases}
    assert set(by_name) == {"lib/good.h [baseline]", "lib/net/bad.h [baseline]", "top.h [baseline]",
                            "lib/good.h [CONFIG_NET=n]", "lib/net/bad.h [CONFIG_NET=n]", "lib/xmacro.h"}
    assert int(suite.get("tests", "")) == len(cases) == 6
    assert (suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("1", "1", "2")
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == ("6", "1", "1", "2")
    assert float(suite.get("time", "")) >= 60.0

    failing = by_name["lib/net/bad.h [baseline]"]
    assert failing.get("classname") == "lib.net" and failing.get("file") == "lib/net/bad.h"
    failure = failing.find("failure")
    assert failure is not None
    assert "lib/net/bad.h:3:" in failure.get("message", "") and "incomplete type" in failure.get("message", "")
    assert failure.get("type") == "incomplete-type"
    body = failure.text or ""
    assert "error: field" in body and "reproduce: cd " in body and "-fsyntax-only" in body

    assert by_name["top.h [baseline]"].get("classname") == "(root)"
    assert list(by_name["lib/good.h [baseline]"]) == []  # a pass has no child element

    timeout = by_name["lib/net/bad.h [CONFIG_NET=n]"].find("error")
    assert timeout is not None and timeout.get("type") == "timeout"
    assert "\x1b" not in (timeout.get("message") or "") and "\x07" not in (timeout.text or "")

    unverified = by_name["lib/good.h [CONFIG_NET=n]"].find("skipped")
    assert unverified is not None and unverified.get("message") == "not verified: flags borrowed from lib/x.c"
    excluded = by_name["lib/xmacro.h"].find("skipped")
    assert excluded is not None and excluded.get("message") == "X-macro list, included with X defined"


def test_one_suite_per_language(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "both.h").write_text("#pragma once\nstruct both { int x; };\n")
    (root / "only.hpp").write_text("#pragma once\nnamespace n { struct s; s value; }\n")
    settings = Settings(root=root, languages=("c", "c++"), jobs=2, no_cache=True, variants="none")
    report = check(settings, [str(root)])
    tree = ET.fromstring(junit.render(ReportContext(report)))
    suites = {s.get("name"): s for s in tree.findall("testsuite")}
    assert set(suites) == {"hdrtest (c)", "hdrtest (c++)"}
    assert [c.get("name") for c in suites["hdrtest (c)"].findall("testcase")] == ["both.h [baseline]"]
    cxx = {c.get("name"): c for c in suites["hdrtest (c++)"].findall("testcase")}
    assert set(cxx) == {"both.h [baseline]", "only.hpp [baseline]"}
    assert cxx["only.hpp [baseline]"].find("failure") is not None
    assert suites["hdrtest (c++)"].get("failures") == "1" and tree.get("failures") == "1"
