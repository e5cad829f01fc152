"""A result hdrtest could not establish is neither a pass nor a failure, wherever results are compared."""

from __future__ import annotations

from pathlib import Path

from hdrtest import diffmode
from hdrtest.check import not_verified
from hdrtest.models import CheckReport, Diagnostic, Job, OptionSetting, Result, Status, Variant


def job(tmp_path: Path) -> Job:
    variant = Variant(name="CONFIG_X=y", changes=(OptionSetting("CONFIG_X", "y"),), defines=(("CONFIG_X", "1"),))
    return Job(header=tmp_path / "a.h", display="a.h", language="c", compiler="gcc", flags=(), directory=tmp_path,
               variant=variant)


def test_not_verified_result_carries_its_reason_as_a_note(tmp_path: Path) -> None:
    result = not_verified(job(tmp_path), "generated headers could not be made")
    assert result.status is Status.UNVERIFIED and not result.status.failed
    [note] = result.diagnostics
    assert (note.severity, note.category, note.message) == ("note", "not-verified",
                                                            "generated headers could not be made")
    report = CheckReport(root=tmp_path, results=[result])
    assert report.failures == [] and report.unverified == [result] and report.headers_failed == 0


def test_diff_does_not_call_an_unverified_head_fixed(tmp_path: Path) -> None:
    error = Diagnostic(file="a.h", line=1, column=1, severity="error", message="unknown type name 'x_t'",
                       category="unknown-type")
    base = CheckReport(root=tmp_path, results=[Result(job=job(tmp_path), status=Status.FAIL, diagnostics=[error])])
    head = CheckReport(root=tmp_path, results=[not_verified(job(tmp_path), "could not be made")])
    new, fixed = diffmode.compare(base, head)
    assert new == [] and fixed == []
