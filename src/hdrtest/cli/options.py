"""What a subcommand runs with, parsed and checked before any work starts.

Report formats become an enum here, so the subcommands compare members, not spellings.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Collection
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from ..errors import UsageError
from ..report import registry
from ..settings import Exclusion, Settings, load_settings, parse_languages, split_flags
from ..variants import Strategy


class ReportFormat(str, Enum):
    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"
    JUNIT = "junit"
    HTML = "html"
    CODECLIMATE = "codeclimate"


@dataclass(frozen=True)
class Output:
    """One report: the format and where it goes (None or "-": stdout)."""

    format: ReportFormat
    destination: str | None


@dataclass(frozen=True)
class RunConfig:
    """A checked run: the merged settings and the reports to write."""

    settings: Settings
    paths: list[str]
    outputs: list[Output]
    quiet: bool

    @property
    def main_output(self) -> Output:
        return self.outputs[0]


def _cflags(args: argparse.Namespace) -> list[str]:
    flags: list[str] = []
    for text in args.cflags:
        flags.extend(split_flags(text, "--cflags"))
    for directory in args.include_dirs:
        flags.append("-I" + os.path.abspath(directory))
    flags.extend("-D" + d for d in args.defines)
    flags.extend("-U" + u for u in args.undefines)
    return flags


#: Options that override the setting of the same name as they are given.
_AS_GIVEN = ("root", "cc", "cxx", "jobs", "timeout", "max_errors", "check_guard", "mode", "no_cache", "closure_analysis",
             "executor", "variants", "seed", "option_pattern", "options", "changed_since")
#: Options naming a file or directory: made absolute against the working directory, not the settings' root.
_PATHS = ("compile_commands", "cache_dir", "kconfig", "kconfig_config")


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The settings file merged with the command line (the command line wins)."""
    overrides: dict[str, Any] = {name: getattr(args, name) for name in _AS_GIVEN}
    overrides.update({name: os.path.abspath(getattr(args, name)) for name in _PATHS if getattr(args, name)})
    overrides["scheduler"] = args.scheduler or os.environ.get("HDRTEST_DASK_SCHEDULER")
    overrides["preludes"] = [os.path.abspath(p) for p in args.prelude]
    if args.lang:
        overrides["languages"] = parse_languages(args.lang)
    settings = load_settings(list(args.paths), overrides)
    # Flags and exclusions add to the settings file's instead of replacing them.
    return replace(settings, cflags=settings.cflags + tuple(_cflags(args)),
                   exclude=settings.exclude + tuple(Exclusion(g, "excluded with --exclude") for g in args.exclude))


def report_format(text: str, allowed: Collection[str] | None = None, *, path: str = "--format") -> ReportFormat:
    """``text`` as a format; ``allowed`` narrows the formats a subcommand writes (default: every format)."""
    if allowed is None:
        registry.validate(text)
    elif text not in allowed:
        raise UsageError(f"unknown report format '{text}'", path=path, hint="use one of " + ", ".join(allowed))
    return ReportFormat(text)


def own_output(args: argparse.Namespace, command: str, allowed: Collection[str], *, hint: str | None = None,
               no_baseline: str | None = None) -> Output:
    """The main report of a subcommand that writes only the formats ``allowed`` (``hint``: where the others
    are); with ``no_baseline``, why it refuses ``--baseline`` and ``--write-baseline``."""
    if args.format not in allowed:
        raise UsageError(f"{command} writes {' or '.join(allowed)}, not '{args.format}'", path="--format", hint=hint)
    if no_baseline is not None and (args.baseline or args.write_baseline):
        raise UsageError(f"{command} {no_baseline} and takes no baseline file",
                         path="--baseline" if args.baseline else "--write-baseline",
                         hint="use hdrtest check --baseline FILE")
    return Output(ReportFormat(args.format), args.output)


#: What ``audit`` and ``diff`` write themselves (``diff``'s other formats describe its HEAD check).
TEXT_OR_JSON = ("text", "json")


def extra_reports(args: argparse.Namespace, allowed: Collection[str] | None = None) -> list[Output]:
    """``--report FORMAT=FILE`` options, checked before any work starts."""
    outputs = []
    for item in args.report:
        fmt, sep, dest = item.partition("=")
        if not sep or not dest:
            raise UsageError(f"'{item}' is not FORMAT=FILE", path="--report")
        outputs.append(Output(report_format(fmt, allowed, path="--report"), dest))
    return outputs


def run_config(args: argparse.Namespace, outputs: list[Output]) -> RunConfig:
    """The checked run: the settings are validated when merged (``settings_from_args``)."""
    settings = settings_from_args(args)
    # Parsed here only to refuse a bad --variants before any work (planning parses it again).
    Strategy.parse(settings.variants, settings.seed, changed=bool(settings.changed_since))
    return RunConfig(settings=settings, paths=list(args.paths), outputs=outputs, quiet=args.quiet)
