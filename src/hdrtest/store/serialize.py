"""A result as the result cache stores it: plain JSON-able dicts, without the job (the key's side)."""

from __future__ import annotations

import dataclasses
import json
import zlib
from typing import Any

from ..models import EXPLANATION_NOTE_KINDS, Diagnosis, Diagnostic, Job, Note, Result, Status


def note_to_dict(note: Note) -> dict[str, Any]:
    return {"message": note.message, "file": note.file, "line": note.line, "column": note.column,
            "kind": note.kind, "fix_diff": note.fix_diff}


def note_from_dict(data: dict[str, Any]) -> Note:
    return Note(message=data["message"], file=data.get("file"), line=data.get("line"), column=data.get("column"),
                kind=data.get("kind", "note"), fix_diff=data.get("fix_diff"))


def diagnostic_to_dict(diag: Diagnostic) -> dict[str, Any]:
    return {"file": diag.file, "line": diag.line, "column": diag.column, "severity": diag.severity,
            "message": diag.message, "option": diag.option, "include_chain": [list(c) for c in diag.include_chain],
            "children": [diagnostic_to_dict(c) for c in diag.children], "category": diag.category,
            "symbol": diag.symbol, "notes": [note_to_dict(n) for n in diag.notes], "abs_file": diag.abs_file,
            "diagnosis": dataclasses.asdict(diag.diagnosis) if diag.diagnosis is not None else None}


def diagnostic_from_dict(data: dict[str, Any]) -> Diagnostic:
    return Diagnostic(file=data["file"], line=data["line"], column=data["column"], severity=data["severity"],
                      message=data["message"], option=data.get("option"),
                      include_chain=[(str(f), int(n)) for f, n in data.get("include_chain", [])],
                      children=[diagnostic_from_dict(c) for c in data.get("children", [])],
                      category=data.get("category"), symbol=data.get("symbol"),
                      notes=[note_from_dict(n) for n in data.get("notes", [])], abs_file=data.get("abs_file"),
                      diagnosis=diagnosis_from_dict(data.get("diagnosis")))


def diagnosis_from_dict(data: dict[str, Any] | None) -> Diagnosis | None:
    if not data:
        return None
    values = tuple((str(name), value) for name, value in data.get("values", ()))
    return Diagnosis(**{**data, "values": values})


def result_to_dict(result: Result) -> dict[str, Any]:
    """Everything of a result but its job (the job is the cache key's side of the record)."""
    return {"status": result.status.value, "diagnostics": [diagnostic_to_dict(d) for d in result.diagnostics],
            "omitted_errors": result.omitted_errors, "duration": result.duration, "returncode": result.returncode,
            "command": list(result.command), "raw_output": result.raw_output, "same_as": result.same_as,
            "dependencies": list(result.dependencies), "relevance": dict(result.relevance),
            "triage": result.triage, "explained_from": result.explained_from}


def result_from_dict(data: dict[str, Any], job: Job) -> Result:
    return Result(job=job, status=Status(data["status"]),
                  diagnostics=[diagnostic_from_dict(d) for d in data.get("diagnostics", [])],
                  omitted_errors=data.get("omitted_errors", 0), duration=data.get("duration", 0.0),
                  returncode=data.get("returncode"), command=tuple(data.get("command", ())),
                  raw_output=data.get("raw_output", ""), same_as=data.get("same_as"),
                  dependencies=tuple(data.get("dependencies", ())), relevance=dict(data.get("relevance", {})),
                  triage=data.get("triage"), explained_from=data.get("explained_from", {}))


def forget_explanation(result: Result) -> None:
    """Drop ``result``'s explanation notes and triage (they went stale); the verdict and diagnostics stay."""
    result.triage = None
    result.explained_from = {}
    for diag in result.diagnostics:
        diag.notes = [n for n in diag.notes if n.kind not in EXPLANATION_NOTE_KINDS]
        diag.diagnosis = None


def payload(result: Result) -> bytes:
    """A stored result: its dependencies are the entry's own columns, its command is rebuilt on a hit."""
    data = result_to_dict(result)
    del data["dependencies"], data["command"]
    return zlib.compress(json.dumps(data).encode("utf-8", "surrogateescape"), 1)

