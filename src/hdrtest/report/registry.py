"""Report formats by name; each format module exposes ``render(report) -> str``."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import UsageError
from ..models import CheckReport
from . import codeclimate, html, json_report, junit, sarif, text

FORMATS: dict[str, Callable[[CheckReport], str]] = {
    "text": text.render,
    "json": json_report.render,
    "sarif": sarif.render,
    "junit": junit.render,
    "html": html.render,
    "codeclimate": codeclimate.render,
}


def validate(fmt: str) -> None:
    if fmt not in FORMATS:
        raise UsageError(f"unknown report format '{fmt}'", path="--format", hint="use one of " + ", ".join(FORMATS))


def render(report: CheckReport, fmt: str) -> str:
    validate(fmt)
    return FORMATS[fmt](report)
