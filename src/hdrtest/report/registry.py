"""Report formats by name; each format module exposes ``render(context) -> str`` (a ``Reporter``)."""

from __future__ import annotations

from ..errors import UsageError
from . import codeclimate, html, junit, sarif, serialize, text
from .context import ReportContext, Reporter

FORMATS: dict[str, Reporter] = {
    "text": text.render,
    "json": serialize.render,
    "sarif": sarif.render,
    "junit": junit.render,
    "html": html.render,
    "codeclimate": codeclimate.render,
}


def validate(fmt: str) -> None:
    if fmt not in FORMATS:
        raise UsageError(f"unknown report format '{fmt}'", path="--format", hint="use one of " + ", ".join(FORMATS))


def render(context: ReportContext, fmt: str) -> str:
    """``context`` in format ``fmt``, its errors labelled new or unchanged first when it has a baseline or a diff."""
    validate(fmt)
    context.mark_states()
    return FORMATS[fmt](context)
