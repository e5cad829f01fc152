"""Report formats by name; each format module exposes ``render(report) -> str``."""

from __future__ import annotations

import importlib

from ..errors import UsageError
from ..models import CheckReport

FORMATS = {
    "text": "text",
    "json": "json_report",
    "sarif": "sarif",
    "junit": "junit",
    "html": "html",
    "codeclimate": "codeclimate",
}


def validate(fmt: str) -> None:
    if fmt not in FORMATS:
        raise UsageError(f"unknown report format '{fmt}'", path="--format", hint="use one of " + ", ".join(FORMATS))


def render(report: CheckReport, fmt: str) -> str:
    validate(fmt)
    module = importlib.import_module(f"{__package__}.{FORMATS[fmt]}")
    text: str = module.render(report)
    return text
