"""A result as the result cache stores it: plain JSON-able dicts, without the job (the key's side)."""

from __future__ import annotations

import dataclasses
import json
import zlib
from typing import Any

from ..models import EXPLANATION_NOTE_KINDS, Diagnosis, Diagnostic, Job, Note, Result, Status


def diagnostic_to_dict(diag: Diagnostic) -> dict[str, Any]:
    """Every field but ``baseline_state``, which each run sets against its own baseline."""
    data = dataclasses.asdict(diag)
    del data["baseline_state"]
    return data


def diagnostic_from_dict(data: dict[str, Any]) -> Diagnostic:
    fields = {key: value for key, value in data.items() if key != "baseline_state"}
    return Diagnostic(**{**fields, "include_chain": [(str(f), int(n)) for f, n in data.get("include_chain", [])],
                         "children": [diagnostic_from_dict(c) for c in data.get("children", [])],
                         "notes": [Note(**n) for n in data.get("notes", [])],
                         "diagnosis": diagnosis_from_dict(data.get("diagnosis"))})


def diagnosis_from_dict(data: dict[str, Any] | None) -> Diagnosis | None:
    if not data:
        return None
    values = tuple((str(name), value) for name, value in data.get("values", ()))
    return Diagnosis(**{**data, "values": values})


def result_to_dict(result: Result) -> dict[str, Any]:
    """Everything of a result but its job (the job is the cache key's side of the record)."""
    return {"status": result.status.value, "diagnostics": [diagnostic_to_dict(d) for d in result.diagnostics],
            "omitted_errors": result.omitted_errors, "duration": result.duration, "returncode": result.returncode,
            "command": list(result.command), "raw_output": result.raw_output,
            "dependencies": list(result.dependencies), "relevance": dict(result.relevance),
            "triage": result.triage, "explained_from": result.explained_from}


def result_from_dict(data: dict[str, Any], job: Job) -> Result:
    return Result(job=job, status=Status(data["status"]),
                  diagnostics=[diagnostic_from_dict(d) for d in data.get("diagnostics", [])],
                  omitted_errors=data.get("omitted_errors", 0), duration=data.get("duration", 0.0),
                  returncode=data.get("returncode"), command=tuple(data.get("command", ())),
                  raw_output=data.get("raw_output", ""),
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

