"""Presence-condition formulas: parsing #if expressions, simplification, evaluation, rendering."""

from __future__ import annotations

import json
import pickle
import subprocess
from pathlib import Path

import pytest
from conftest import KCONFIG_H

from hdrtest.scan.conditions import parse_condition
from hdrtest.scan.formula import (
    FALSE,
    TRUE,
    And,
    Atom,
    Defined,
    Not,
    Or,
    conj,
    disj,
    evaluate,
    from_json,
    macros,
    neg,
    to_c,
    to_json,
)
from hdrtest.scan.options import OptionFilter

A, B, C = Defined("CONFIG_A"), Defined("CONFIG_B"), Defined("CONFIG_C")


@pytest.mark.parametrize(
    ("directive", "expr", "expected"),
    [
        ("ifdef", "CONFIG_A", A),
        ("#ifndef", "CONFIG_A", Not(A)),
        ("if", "defined(CONFIG_A)", A),
        ("if", "defined CONFIG_A", A),
        ("if", "!defined(CONFIG_A)", Not(A)),
        ("if", "defined(CONFIG_A) && defined(CONFIG_B)", And((A, B))),
        ("if", "defined(CONFIG_A) || (defined(CONFIG_B) && !defined(CONFIG_C))", Or((A, And((B, Not(C)))))),
        ("elif", "0", FALSE),
        ("if", "1", TRUE),
        ("if", "CONFIG_A", A),  # a Kconfig option is 1 or undefined
        ("if", "IS_ENABLED(CONFIG_A)", Or((A, Defined("CONFIG_A_MODULE")))),
        ("if", "IS_BUILTIN(CONFIG_A)", A),
        ("if", "IS_MODULE(CONFIG_A)", Defined("CONFIG_A_MODULE")),
        ("if", "IS_REACHABLE(CONFIG_A)", Or((A, Defined("CONFIG_A_MODULE")))),
        ("if", "!IS_ENABLED(CONFIG_A)", Not(Or((A, Defined("CONFIG_A_MODULE"))))),
        ("if", "IS_ENABLED(CONFIG_A) == 0", Not(Or((A, Defined("CONFIG_A_MODULE"))))),
        ("if", "CONFIG_HZ > 100", Atom("CONFIG_HZ > 100")),
        ("if", "defined(CONFIG_A) && CONFIG_NR_CPUS >= 4", And((A, Atom("CONFIG_NR_CPUS >= 4")))),
        ("if", "__GNUC__", Atom("__GNUC__")),  # not an option: stays opaque
        ("if", "defined(X) &&& Y", Atom("defined(X) &&& Y")),  # unparseable
        ("if", "(((defined(CONFIG_A))))", A),
    ],
)
def test_parse_condition(directive: str, expr: str, expected: object) -> None:
    assert parse_condition(directive, expr) == expected


def test_option_filter_changes_plain_identifier_meaning() -> None:
    opts = OptionFilter.from_args(patterns=[r"HAVE_[A-Z_]+"], names=["WITH_SSL"])
    assert parse_condition("if", "HAVE_FOO && WITH_SSL", opts) == And((Defined("HAVE_FOO"), Defined("WITH_SSL")))
    # The explicit pattern replaces the CONFIG_ default.
    assert parse_condition("if", "CONFIG_A", opts) == Atom("CONFIG_A")
    assert opts.is_option("WITH_SSL") and not opts.is_option("CONFIG_A")


def test_option_filter_module_suffix() -> None:
    f = OptionFilter()
    assert f.option_of("CONFIG_KVM_MODULE") == "CONFIG_KVM"
    assert f.option_of("CONFIG_KVM") == "CONFIG_KVM"
    assert f.option_of("__KERNEL__") is None
    cond = parse_condition("if", "IS_ENABLED(CONFIG_KVM) && defined(__KERNEL__)")
    assert f.options(cond) == frozenset({"CONFIG_KVM"})


def test_simplification() -> None:
    assert conj() == TRUE and disj() == FALSE
    assert conj(A, TRUE) == A
    assert conj(A, FALSE) == FALSE
    assert disj(A, TRUE) == TRUE
    assert conj(A, neg(A)) == FALSE
    assert disj(A, neg(A)) == TRUE
    assert conj(A, conj(B, C), A) == And((A, B, C))  # flattened, deduplicated, order kept
    assert neg(neg(A)) == A
    assert neg(TRUE) == FALSE


def test_formulas_are_hashable_and_picklable() -> None:
    f = conj(A, disj(B, Atom("CONFIG_HZ > 100")), neg(C))
    assert len({f, conj(A, disj(B, Atom("CONFIG_HZ > 100")), neg(C))}) == 1
    assert pickle.loads(pickle.dumps(f)) == f
    assert from_json(json.loads(json.dumps(to_json(f)))) == f


def test_macros() -> None:
    f = parse_condition("if", "IS_ENABLED(CONFIG_A) && CONFIG_HZ > 100 && !defined(__KERNEL__)")
    assert macros(f) == {"CONFIG_A", "CONFIG_A_MODULE", "CONFIG_HZ", "__KERNEL__"}


def test_evaluate() -> None:
    f = parse_condition("if", "defined(CONFIG_A) && !defined(CONFIG_B)")
    assert evaluate(f, {"CONFIG_A": "1"}) is True
    assert evaluate(f, {"CONFIG_A": "1", "CONFIG_B": "1"}) is False
    assert evaluate(f, {"CONFIG_A": None}) is False  # None: #undef
    hz = parse_condition("if", "CONFIG_HZ >= 250 && IS_ENABLED(CONFIG_A)")
    assert evaluate(hz, {"CONFIG_HZ": "300", "CONFIG_A_MODULE": "1"}) is True
    assert evaluate(hz, {"CONFIG_HZ": "100", "CONFIG_A": "1"}) is False
    assert evaluate(hz, {"CONFIG_HZ": "\"x\"", "CONFIG_A": "1"}) is None  # not a number


def test_to_c_renders_preprocessor_syntax() -> None:
    f = parse_condition("if", "defined(CONFIG_A) && (CONFIG_B || !IS_MODULE(CONFIG_C)) && CONFIG_HZ > 100")
    assert to_c(f) == "defined(CONFIG_A) && (defined(CONFIG_B) || !defined(CONFIG_C_MODULE)) && (CONFIG_HZ > 100)"
    assert to_c(neg(disj(A, B))) == "!(defined(CONFIG_A) || defined(CONFIG_B))"
    assert str(A) == "defined(CONFIG_A)"


@pytest.mark.parametrize(
    "expr",
    [
        "defined(CONFIG_A) && !defined(CONFIG_B)",
        "IS_ENABLED(CONFIG_A) || (defined(CONFIG_B) && CONFIG_C)",
        "!(defined(CONFIG_A) || CONFIG_B) || IS_MODULE(CONFIG_C)",
        "CONFIG_A ? defined(CONFIG_B) : !defined(CONFIG_C)",
    ],
)
def test_formula_agrees_with_gcc(expr: str, tmp_path: Path) -> None:
    """to_c() and evaluate() mean what the preprocessor means, in every configuration."""
    kconfig = tmp_path / "kconfig.h"
    # The kernel's IS_ENABLED machinery, written from its documented behaviour.
    kconfig.write_text(KCONFIG_H)
    f = parse_condition("if", expr)
    names = ["CONFIG_A", "CONFIG_B", "CONFIG_C", "CONFIG_C_MODULE", "CONFIG_A_MODULE"]
    for bits in range(1 << len(names)):
        config = {n: "1" for i, n in enumerate(names) if bits >> i & 1}
        src = tmp_path / "t.c"
        src.write_text(
            f'#include "{kconfig}"\n'
            + "".join(f"#define {n} 1\n" for n in config)
            + f"#if {expr}\nint original;\n#endif\n#if {to_c(f)}\nint rendered;\n#endif\n"
        )
        out = subprocess.run(["gcc", "-E", "-P", str(src)], capture_output=True, text=True, check=True).stdout
        assert ("original" in out) == evaluate(f, config), (expr, config)
        assert ("rendered" in out) == ("original" in out), (to_c(f), config)
