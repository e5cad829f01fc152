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
                         # Diagnosis makes its JSON lists and nested records canonical itself.
                         "diagnosis": Diagnosis(**data["diagnosis"]) if data.get("diagnosis") else None})


#: What of a result the cache does not keep: the job is the key's side, ``cached`` says where this run's came from.
_NOT_STORED = ("job", "cached")


def result_to_dict(result: Result) -> dict[str, Any]:
    """Everything of a result but its job (the job is the cache key's side of the record)."""
    data = {f.name: getattr(result, f.name) for f in dataclasses.fields(Result) if f.name not in _NOT_STORED}
    return {**data, "status": result.status.value, "diagnostics": [diagnostic_to_dict(d) for d in result.diagnostics]}


def result_from_dict(data: dict[str, Any], job: Job) -> Result:
    values = {key: value for key, value in data.items() if key not in _NOT_STORED}
    return Result(**{**values, "job": job, "status": Status(data["status"]),
                     "diagnostics": [diagnostic_from_dict(d) for d in data.get("diagnostics", [])],
                     "command": tuple(data.get("command", ())), "dependencies": tuple(data.get("dependencies", ()))})


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

