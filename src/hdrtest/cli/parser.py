"""The command line's grammar: subcommands and their options, exactly as ``hdrtest --help`` shows them."""

from __future__ import annotations

import argparse
from typing import Any

from .. import __version__
from ..errors import UsageError
from ..settings import CHOICES
from ..store.commands import ACTIONS
from .options import ReportFormat


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse exits 2 too; keep our one-line shape
        raise UsageError(message, path=self.prog)


def add_check_options(parser: argparse.ArgumentParser) -> None:
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
    run.add_argument("--mode", choices=CHOICES["mode"],
                     help="syntax: -fsyntax-only; asm: -S -o /dev/null like Linux's header test, which also reports "
                          "warnings gcc emits only past parsing (unused static functions/constants); auto (default): "
                          "asm for kernel flags (-D__KERNEL__), else syntax")
    run.add_argument("--check-guard", action="store_true", default=None, help="include each header twice")
    run.add_argument("--cache-dir", help="result cache directory (default $XDG_CACHE_HOME/hdrtest)")
    run.add_argument("--no-cache", action="store_true", default=None, help="do not read or write the result cache")
    run.add_argument("--executor", choices=CHOICES["executor"], help="where compiles run (default local)")
    run.add_argument("--scheduler", help="Dask scheduler address (or HDRTEST_DASK_SCHEDULER)")
    var = parser.add_argument_group("configuration variants")
    var.add_argument("--variants", help="auto (the default: changed with --changed-since, else default), default, "
                     "changed, none, pairwise or random:N")
    var.add_argument("--seed", type=int, help="seed for --variants random:N")
    var.add_argument("--no-closure-analysis", dest="closure_analysis", action="store_false", default=None,
                     help="flip only options the header's own conditionals and the names it uses make relevant, "
                          "not those of fragile uses deep in its include closure (faster, finds less)")
    var.add_argument("--option-pattern", metavar="REGEX", help="what a configuration macro looks like (CONFIG_*)")
    var.add_argument("--option", dest="options", action="append", default=[], metavar="NAME",
                     help="also treat NAME as a configuration option")
    var.add_argument("--kconfig", metavar="PATH", help="Kconfig file of the tree (auto-detected at the root)")
    var.add_argument("--kconfig-config", metavar="PATH", help=".config to start from (default ROOT/.config)")
    out = parser.add_argument_group("output")
    out.add_argument("--format", default=ReportFormat.TEXT.value, help="text, json, sarif, junit, html or codeclimate")
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
    add_check_options(check)
    check.add_argument("--fix", action="store_true", help="also print the suggested edits as a unified diff")
    fix = sub.add_parser("fix", help="show the edits that make failing headers pass (unified diff); --apply writes them")
    add_check_options(fix)
    fix.add_argument("--apply", action="store_true",
                     help="write the edits (inside the tree only), re-check, and undo them unless the header passes")
    diff = sub.add_parser("diff", help="check the headers a git change affects, before and after; report what it "
                                       "broke (>>) or fixed")
    diff.add_argument("base", metavar="BASE", help="git revision before the change")
    diff.add_argument("head", metavar="HEAD", nargs="?",
                      help="git revision after the change (default: the working tree, read as it is)")
    add_check_options(diff)
    series = sub.add_parser("series", help="check a patch series commit by commit, as the build robot would: what "
                                           "each commit broke (>>) or fixed, and which commit first broke a header")
    series.add_argument("range", metavar="BASE..HEAD", nargs="?",
                        help="commits to check (default: pre-commit's PRE_COMMIT_FROM_REF..PRE_COMMIT_TO_REF in a "
                             "pre-push hook, else @{upstream}..HEAD)")
    add_check_options(series)
    bisect = sub.add_parser("bisect", help="find the first commit where HEADER stops compiling alone")
    bisect.add_argument("good", metavar="GOOD", help="a revision where the header compiles")
    bisect.add_argument("bad", metavar="BAD", help="a later revision where it fails")
    bisect.add_argument("header", metavar="HEADER")
    bisect.add_argument("--variant", help="the configuration, by the variant name a report gives "
                                          "(default: the first failing one at BAD)")
    add_check_options(bisect)
    audit = sub.add_parser("audit", help="find latent configuration breakages in a whole tree, with no change at "
                                         "hand: root causes ranked by how many headers each breaks")
    add_check_options(audit)
    cache = sub.add_parser("cache", help="show, clear or shrink the result cache")
    cache.add_argument("action", choices=ACTIONS)
    cache.add_argument("--max-size", metavar="SIZE", help="prune: evict least recently used entries down to SIZE "
                                                          "(e.g. 500M, 2G)")
    cache.add_argument("--cache-dir", help="result cache directory (default $XDG_CACHE_HOME/hdrtest)")
    cache.add_argument("--json", action="store_true", help="stats as JSON")
    return parser
