"""``--format junit``: one testcase per header and variant, as GitLab and Jenkins read JUnit XML.

Passing headers are testcases too, so CI dashboards count them; failures carry the
gcc-style diagnostics, timeouts and crashes are errors (the header got no verdict), and
skipped headers, deduplicated variants and variants hdrtest could not verify are skipped
with their reason.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import PurePosixPath

from ..diagnostics import render_gcc_style
from ..models import Result, Skipped, Status
from .context import ReportContext
from .lines import unverified_reason
from .text import result_lines

# XML 1.0 cannot carry most control characters, and compiler output may hold some (colour codes).
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", _ANSI.sub("", text))


def classname(header: str) -> str:
    """The directory as a dotted path, so report viewers group headers by directory."""
    parent = PurePosixPath(header).parent.as_posix().strip("/")
    return parent.replace("/", ".") if parent not in ("", ".") else "(root)"


def _first_error(result: Result) -> str:
    first = next((d for d in result.diagnostics if d.is_error), None)
    return render_gcc_style(first, chain=False)[0] if first else f"{result.job.display}: {result.status.value}"


def _case(header: str, name: str, time: float) -> ET.Element:
    return ET.Element("testcase", {"classname": classname(header), "name": clean(name), "file": header,
                                   "time": f"{time:.3f}"})


def testcase(result: Result) -> ET.Element:
    job = result.job
    case = _case(job.display, f"{job.display} [{job.variant.describe()}]", result.duration)
    if result.status is Status.PASS:
        return case
    if result.status is Status.UNVERIFIED:
        ET.SubElement(case, "skipped", {"message": clean("not verified: " + unverified_reason(result))})
        return case
    tag = "failure" if result.status is Status.FAIL else "error"
    category = next((d.category for d in result.diagnostics if d.is_error and d.category), None)
    element = ET.SubElement(case, tag, {"message": clean(_first_error(result)),
                                        "type": category or result.status.value})
    element.text = clean("\n".join(result_lines(result)) + "\n")
    return case


def _skipped_case(skipped: Skipped) -> ET.Element:
    case = _case(skipped.header, skipped.header, 0.0)
    ET.SubElement(case, "skipped", {"message": clean(skipped.reason)})
    return case


def suite(name: str, cases: list[ET.Element], time: float) -> ET.Element:
    suite = ET.Element("testsuite", {
        "name": name,
        "tests": str(len(cases)),
        "failures": str(sum(1 for c in cases if c.find("failure") is not None)),
        "errors": str(sum(1 for c in cases if c.find("error") is not None)),
        "skipped": str(sum(1 for c in cases if c.find("skipped") is not None)),
        "time": f"{time:.3f}",
    })
    suite.extend(cases)
    return suite


def document(name: str, suites: list[ET.Element], time: float | None = None) -> str:
    """The ``testsuites`` root over ``suites``, their counts summed, as an XML document."""
    root = ET.Element("testsuites", {"name": name})
    for count in ("tests", "failures", "errors", "skipped"):
        root.set(count, str(sum(int(s.get(count, "0")) for s in suites)))
    if time is not None:
        root.set("time", f"{time:.3f}")
    root.extend(suites)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def render(context: ReportContext) -> str:
    report = context.report
    by_language: dict[str, list[Result]] = {}
    for result in report.results:
        by_language.setdefault(result.job.language, []).append(result)
    suites: list[ET.Element] = []
    languages = sorted(by_language) or ["c"]
    for index, language in enumerate(languages):
        results = by_language.get(language, [])
        cases = [testcase(r) for r in results]
        if index == 0:
            # Skipped headers were never given a language; they are listed once, in the first suite.
            cases.extend(_skipped_case(s) for s in report.skipped)
        suites.append(suite(f"hdrtest ({language})", cases, sum(r.duration for r in results)))
    return document("hdrtest", suites, report.elapsed)
