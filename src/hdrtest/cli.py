"""Command line: a thin layer over ``hdrtest.check`` and friends.

It parses options, maps errors to exit codes (0 clean, 1 failures, 2 usage/setup, 3
internal, 130 interrupted) and writes reports; all behaviour lives in the library.
"""

from __future__ import annotations

import argparse
import datetime
import os
import signal
import sys
import tempfile
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .errors import EXIT_CLEAN, EXIT_FAILURES, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, HdrtestError, UsageError
from .models import CheckReport
from .settings import Settings, load_settings, parse_languages
from . import audit as audits
from .bisect import run_bisect
from .store.commands import cache_command, open_cache
from .store.location import default_cache_dir
from .progress import Progress
from .report import series as series_report
from .series import run_series
from .toolchain import run


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse exits 2 too; keep our one-line shape
        raise UsageError(message, path=self.prog)


def _add_check_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", help="headers or directories (recursive); default: the settings' paths or .")
    flags = parser.add_argument_group("flags")
    flags.add_argument("-p", "--compile-commands", metavar="PATH", help="compile_commands.json or its directory")
    flags.add_argument("--cflags", action="append", default=[], help="extra compiler flags (split like a shell)")
    flags.add_argument("-I", dest="include_dirs", action="append", default=[], metavar="DIR")
    flags.add_argument("-D", dest="defines", action="append", default=[], metavar="NAME[=VALUE]")
    flags.add_argument("-U", dest="undefines", action="append", default=[], metavar="NAME")
    flags.add_argument("--cc", help="C compiler (default: the compile database's, $CC, cc)")
    flags.add_argument("--cxx", help="C++ compiler (default: --cc, $CXX)")
    flags.add_argument("--prelude", action="append", default=[], metavar="HEADER",
                       help="force-include HEADER before each checked header")
    flags.add_argument("--root", help="tree root (default: where the settings file is, else the git top level)")
    sel = parser.add_argument_group("selection")
    sel.add_argument("--exclude", action="append", default=[], metavar="GLOB")
    sel.add_argument("--lang", help="c, c++ or c,c++ (for *.h)")
    sel.add_argument("--changed-since", metavar="REV", help="check only headers affected since git revision REV")
    run = parser.add_argument_group("running")
    run.add_argument("-j", "--jobs", type=int, help="parallel compiles (default: all cores)")
    run.add_argument("--timeout", type=float, help="seconds per compile before it is killed (default 60)")
    run.add_argument("--max-errors", type=int, help="errors shown per header (default 10; 0 = all)")
    run.add_argument("--mode", choices=["auto", "syntax", "asm"],
                     help="syntax: -fsyntax-only; asm: -S -o /dev/null like Linux's header test, which also reports "
                          "warnings gcc emits only past parsing (unused static functions/constants); auto (default): "
                          "asm for kernel flags (-D__KERNEL__), else syntax")
    run.add_argument("--check-guard", action="store_true", default=None, help="include each header twice")
    run.add_argument("--cache-dir", help="result cache directory (default $XDG_CACHE_HOME/hdrtest)")
    run.add_argument("--no-cache", action="store_true", default=None, help="do not read or write the result cache")
    run.add_argument("--executor", choices=["local", "dask"], help="where compiles run (default local)")
    run.add_argument("--scheduler", help="Dask scheduler address (or HDRTEST_DASK_SCHEDULER)")
    var = parser.add_argument_group("configuration variants")
    var.add_argument("--variants", help="default, none, pairwise or random:N")
    var.add_argument("--seed", type=int, help="seed for --variants random:N")
    var.add_argument("--option-pattern", metavar="REGEX", help="what a configuration macro looks like (CONFIG_*)")
    var.add_argument("--option", dest="options", action="append", default=[], metavar="NAME",
                     help="also treat NAME as a configuration option")
    var.add_argument("--kconfig", metavar="PATH", help="Kconfig file of the tree (auto-detected at the root)")
    var.add_argument("--kconfig-config", metavar="PATH", help=".config to start from (default ROOT/.config)")
    out = parser.add_argument_group("output")
    out.add_argument("--format", default="text", help="text, json, sarif, junit, html or codeclimate")
    out.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout")
    out.add_argument("--report", action="append", default=[], metavar="FORMAT=FILE", help="also write FORMAT to FILE")
    out.add_argument("--baseline", metavar="FILE", help="fail only on failures not in FILE")
    out.add_argument("--write-baseline", metavar="FILE", help="record this run's failures in FILE")
    out.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hdrtest", description="Prove every C/C++ header compiles on its own.")
    parser.add_argument("--version", action="version", version=f"hdrtest {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    check = sub.add_parser("check", help="compile each header alone, in every configuration that matters")
    _add_check_options(check)
    check.add_argument("--fix", action="store_true", help="also print the suggested edits as a unified diff")
    fix = sub.add_parser("fix", help="show the edits that make failing headers pass (unified diff); --apply writes them")
    _add_check_options(fix)
    fix.add_argument("--apply", action="store_true",
                     help="write the edits (inside the tree only), re-check, and undo them unless the header passes")
    diff = sub.add_parser("diff", help="check the headers a git change affects, before and after; report what it "
                                       "broke (>>) or fixed")
    diff.add_argument("base", metavar="BASE", help="git revision before the change")
    diff.add_argument("head", metavar="HEAD", nargs="?",
                      help="git revision after the change (default: the working tree, read as it is)")
    _add_check_options(diff)
    series = sub.add_parser("series", help="check a patch series commit by commit, as the build robot would: what "
                                           "each commit broke (>>) or fixed, and which commit first broke a header")
    series.add_argument("range", metavar="BASE..HEAD", nargs="?",
                        help="commits to check (default: pre-commit's PRE_COMMIT_FROM_REF..PRE_COMMIT_TO_REF in a "
                             "pre-push hook, else @{upstream}..HEAD)")
    _add_check_options(series)
    bisect = sub.add_parser("bisect", help="find the first commit where HEADER stops compiling alone")
    bisect.add_argument("good", metavar="GOOD", help="a revision where the header compiles")
    bisect.add_argument("bad", metavar="BAD", help="a later revision where it fails")
    bisect.add_argument("header", metavar="HEADER")
    bisect.add_argument("--variant", help="the configuration, by the variant name a report gives "
                                          "(default: the first failing one at BAD)")
    _add_check_options(bisect)
    audit = sub.add_parser("audit", help="find latent configuration breakages in a whole tree, with no change at "
                                         "hand: root causes ranked by how many headers each breaks")
    _add_check_options(audit)
    cache = sub.add_parser("cache", help="show, clear or shrink the result cache")
    cache.add_argument("action", choices=["stats", "clear", "prune"])
    cache.add_argument("--max-size", metavar="SIZE", help="prune: evict least recently used entries down to SIZE "
                                                          "(e.g. 500M, 2G)")
    cache.add_argument("--cache-dir", help="result cache directory (default $XDG_CACHE_HOME/hdrtest)")
    cache.add_argument("--json", action="store_true", help="stats as JSON")
    return parser


def _cflags(args: argparse.Namespace) -> list[str]:
    from .plan import split_cflags

    flags: list[str] = []
    for text in args.cflags:
        flags.extend(split_cflags(text))
    for directory in args.include_dirs:
        flags.append("-I" + os.path.abspath(directory))
    flags.extend("-D" + d for d in args.defines)
    flags.extend("-U" + u for u in args.undefines)
    return flags


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {
        "root": args.root,
        "compile_commands": os.path.abspath(args.compile_commands) if args.compile_commands else None,
        "cc": args.cc,
        "cxx": args.cxx,
        "jobs": args.jobs,
        "timeout": args.timeout,
        "max_errors": args.max_errors,
        "check_guard": args.check_guard,
        "mode": args.mode,
        "cache_dir": os.path.abspath(args.cache_dir) if args.cache_dir else None,
        "no_cache": args.no_cache,
        "executor": args.executor,
        "scheduler": args.scheduler or os.environ.get("HDRTEST_DASK_SCHEDULER"),
        "variants": args.variants,
        "seed": args.seed,
        "option_pattern": args.option_pattern,
        "options": args.options,
        "kconfig": os.path.abspath(args.kconfig) if args.kconfig else None,
        "kconfig_config": os.path.abspath(args.kconfig_config) if args.kconfig_config else None,
        "changed_since": args.changed_since,
        "preludes": [os.path.abspath(p) for p in args.prelude],
    }
    if args.lang:
        overrides["languages"] = parse_languages(args.lang)
    settings = load_settings(list(args.paths), overrides)
    extra = tuple(_cflags(args))
    changes: dict[str, Any] = {}
    if extra:
        changes["cflags"] = settings.cflags + extra
    if args.exclude:
        from .settings import Exclusion

        changes["exclude"] = settings.exclude + tuple(Exclusion(g, "excluded with --exclude") for g in args.exclude)
    from dataclasses import replace

    return replace(settings, **changes) if changes else settings


def _write(text: str, destination: str | None) -> None:
    """Write a report; a file is replaced whole or not at all, so a failed run leaves the previous report."""
    # Names that were not UTF-8 reach here as surrogate escapes: written as \udcXX, never an encoding crash
    # (inside a JSON string that is the same escape json.dumps would write).
    data = text.encode("utf-8", "backslashreplace")
    if destination is None or destination == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    path = Path(destination)
    if path.exists() and not path.is_file():  # /dev/stdout, a FIFO: write into it, never rename over it
        try:
            with open(path, "wb") as stream:
                stream.write(data)
        except OSError as exc:
            raise UsageError(f"cannot write report: {exc.strerror}", path=destination) from None
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        raise UsageError(f"cannot write report: {exc.strerror}", path=destination) from None


def _umask() -> int:
    # mkstemp creates 0600 files; a report is as readable as any file the user writes.
    mask = os.umask(0)
    os.umask(mask)
    return mask


def render(report: CheckReport, fmt: str) -> str:
    from .report import registry

    return registry.render(report, fmt)


def cmd_check(args: argparse.Namespace) -> int:
    from .check import check
    from .progress import Progress

    settings = settings_from_args(args)
    from .report import registry

    outputs = [(args.format, args.output), *_extra_reports(args)]
    registry.validate(args.format)
    from . import baseline as baselines

    known = baselines.load(args.baseline) if args.baseline else None  # a bad file fails before any compile
    cache = open_cache(settings)
    try:
        with Progress(quiet=args.quiet) as progress:
            report = check(settings, list(args.paths), progress=progress.update, explain=not args.fix, cache=cache)
    finally:
        if cache is not None:
            cache.close()
    if known is not None:
        baselines.mark(report, known)
    fix_diff = None
    if args.fix:
        from .fix import suggest

        fix_diff = suggest(report, settings)
    for fmt, dest in outputs:
        _write(baselines.render_text(report, known) if known is not None and fmt == "text" else render(report, fmt),
               dest)
    if fix_diff:
        (sys.stdout if args.format == "text" and args.output in (None, "-") else sys.stderr).write(fix_diff)
    if args.format != "text" and args.output and not args.quiet:
        from .report.text import summary_line

        sys.stderr.write(summary_line(report) + "\n")
    if args.write_baseline:
        baselines.write(report, args.write_baseline)
        if known is None:
            return EXIT_CLEAN  # every failure of this run is in the baseline just written
    if known is not None:
        return EXIT_FAILURES if baselines.new_failures(report, known) else EXIT_CLEAN
    return EXIT_FAILURES if report.failures else EXIT_CLEAN


def cmd_fix(args: argparse.Namespace) -> int:
    from .fix import run_fix
    from .progress import Progress

    settings = settings_from_args(args)
    with Progress(quiet=args.quiet) as progress:
        return run_fix(settings, list(args.paths), apply=args.apply, write=sys.stdout.write,
                       say=lambda text: sys.stderr.write(text + "\n"), progress=progress.update)


def _extra_reports(args: argparse.Namespace, allowed: Sequence[str] | None = None) -> list[tuple[str, str]]:
    """``--report FORMAT=FILE`` options, checked before any work starts."""
    from .report import registry

    outputs = []
    for item in args.report:
        fmt, sep, dest = item.partition("=")
        if not sep or not dest:
            raise UsageError(f"'{item}' is not FORMAT=FILE", path="--report")
        if allowed is not None:
            if fmt not in allowed:
                raise UsageError(f"unknown report format '{fmt}'", path="--report", hint="use one of " + ", ".join(allowed))
        else:
            registry.validate(fmt)
        outputs.append((fmt, dest))
    return outputs


def cmd_diff(args: argparse.Namespace) -> int:
    from . import diffmode
    from .progress import Progress
    from .report import registry

    if args.format not in ("text", "json"):
        raise UsageError(f"hdrtest diff writes text or json, not '{args.format}'", path="--format",
                         hint="other formats of the HEAD check: --report FORMAT=FILE")
    if args.baseline or args.write_baseline:
        raise UsageError("hdrtest diff compares with BASE and takes no baseline file",
                         path="--baseline" if args.baseline else "--write-baseline",
                         hint="use hdrtest check --baseline FILE")
    reports = _extra_reports(args)
    head, paths = args.head, list(args.paths)
    settings = settings_from_args(args)
    if head is not None and os.path.exists(head) and \
            diffmode.resolve_commit(diffmode.toplevel(settings.root), head) is None:
        paths.insert(0, head)  # as with git diff: a HEAD that is no revision but a path is a path
        head = None
    with Progress(quiet=args.quiet) as progress:
        result = diffmode.run_diff(settings, args.base, head, paths=paths, progress=progress.update)
    _write(diffmode.render_json(result) if args.format == "json" else diffmode.render_text(result), args.output)
    if reports:
        diffmode.mark_states(result)  # BASE is the baseline: SARIF's baselineState says new or unchanged
        for fmt, dest in reports:
            _write(registry.render(result.head, fmt), dest)
    return EXIT_FAILURES if result.has_new_failures else EXIT_CLEAN


def _series_range(args: argparse.Namespace) -> tuple[str, str]:
    if args.range:
        base, sep, head = args.range.partition("..")
        if not sep:
            return args.range, "HEAD"
        return base or "HEAD", head or "HEAD"
    pushed = os.environ.get("PRE_COMMIT_FROM_REF"), os.environ.get("PRE_COMMIT_TO_REF")
    if pushed[0] and pushed[1] and set(pushed[0]) != {"0"}:
        return pushed[0], pushed[1]
    return "@{upstream}", "HEAD"


def cmd_series(args: argparse.Namespace) -> int:
    if args.format not in series_report.FORMATS:
        raise UsageError(f"hdrtest series writes {', '.join(series_report.FORMATS)}, not '{args.format}'",
                         path="--format")
    if args.baseline or args.write_baseline:
        raise UsageError("hdrtest series compares each commit with its parent and takes no baseline file",
                         path="--baseline" if args.baseline else "--write-baseline")
    outputs = [(args.format, args.output)]
    for fmt, dest in _extra_reports(args, allowed=series_report.FORMATS):
        outputs.append((fmt, dest))
    settings = settings_from_args(args)
    base, head = _series_range(args)
    cache = open_cache(settings)
    try:
        with Progress(quiet=args.quiet) as progress:
            found = run_series(settings, base, head, paths=list(args.paths), cache=cache, progress=progress.update)
    finally:
        if cache is not None:
            cache.close()
    for fmt, dest in outputs:
        _write(series_report.render(found, fmt), dest)
    return EXIT_FAILURES if found.has_new_failures else EXIT_CLEAN


def cmd_bisect(args: argparse.Namespace) -> int:
    if args.paths:
        raise UsageError("hdrtest bisect takes one header", path=args.paths[0], hint="GOOD BAD HEADER")
    settings = settings_from_args(args)
    cache = open_cache(settings)
    try:
        found = run_bisect(settings, args.good, args.bad, args.header, variant=args.variant, cache=cache)
    finally:
        if cache is not None:
            cache.close()
    _write(series_report.render_bisect(found), args.output)
    return EXIT_CLEAN


def cmd_audit(args: argparse.Namespace) -> int:
    if args.format not in ("text", "json"):
        raise UsageError(f"audit writes text or json, not '{args.format}'", path="--format",
                         hint="use hdrtest check for the other formats")
    settings = settings_from_args(args)
    cache = open_cache(settings)
    try:
        with Progress(quiet=args.quiet) as progress:
            report = audits.run_audit(settings, list(args.paths), progress=progress.update, cache=cache)
    finally:
        if cache is not None:
            cache.close()
    _write(audits.render_json(report) if args.format == "json" else audits.render_text(report), args.output)
    return EXIT_FAILURES if report.root_causes or report.failures else EXIT_CLEAN


def cmd_cache(args: argparse.Namespace) -> int:
    settings = load_settings([], {"cache_dir": os.path.abspath(args.cache_dir) if args.cache_dir else None})
    sys.stdout.write(cache_command(args.action, settings, max_size=args.max_size, as_json=args.json))
    return EXIT_CLEAN


def _crash_log() -> Path:
    directory = default_cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        directory = Path(tempfile.gettempdir())
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = directory / f"crash-{stamp}-{os.getpid()}.log"
    path.write_text(f"hdrtest {__version__}\nargv: {sys.argv!r}\n\n{traceback.format_exc()}", encoding="utf-8")
    return path


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP: the same orderly stop as Ctrl-C (compilers ended, temporary files removed)."""


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_stop_requested = threading.Event()


def _on_signal(signum: int, _frame: object) -> None:
    # Only the first signal interrupts: a second one must not cut short the clean-up the first started
    # (compilers ended, worktrees removed, edits restored).
    if _stop_requested.is_set():
        return
    _stop_requested.set()
    # End the children now, not after unwinding: unwinding joins worker threads (Kconfig flips, compiles)
    # that would otherwise wait for their children, or start the queued ones.
    run.terminate_all()
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signal.Signals(signum).name)


def _install_signal_handlers() -> dict[int, Any]:
    """Route SIGINT, SIGTERM and SIGHUP to one orderly stop; returns the handlers to restore."""
    if threading.current_thread() is not threading.main_thread():
        return {}  # a library caller in a thread keeps its own signal policy
    _stop_requested.clear()
    previous: dict[int, Any] = {}
    for signum in _STOP_SIGNALS:
        current = signal.getsignal(signum)
        if current is signal.SIG_IGN and signum != signal.SIGINT:
            continue  # nohup: the user asked us to ignore it
        previous[signum] = current
        signal.signal(signum, _on_signal)
    return previous


def _restore_signal_handlers(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    previous = _install_signal_handlers()
    try:
        return _main(parser, argv)
    finally:
        _restore_signal_handlers(previous)
        run.reset()


def _main(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        handler = {"check": cmd_check, "fix": cmd_fix, "diff": cmd_diff, "series": cmd_series, "bisect": cmd_bisect,
                   "cache": cmd_cache, "audit": cmd_audit}[args.command]
        return handler(args)
    except HdrtestError as exc:
        sys.stderr.write(f"hdrtest: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt as exc:
        stopped = run.terminate_all()
        what = f"{exc.args[0]} received" if isinstance(exc, Terminated) and exc.args else "interrupted"
        sys.stderr.write(f"hdrtest: {what}; all compilers stopped ({stopped} running)\n")
        return EXIT_INTERRUPTED
    except SystemExit as exc:  # --help / --version
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - the last line of defence: a crash log, exit 3
        try:
            log = _crash_log()
            where = f"crash log written to {log}"
        except OSError:
            where = "no crash log could be written"
        sys.stderr.write(f"hdrtest: internal error: {exc.__class__.__name__}: {exc}; {where}; please report it\n")
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
