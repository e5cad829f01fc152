"""Which options matter for a header: its own tests, guards of names it uses, followed through bodies."""

from __future__ import annotations

from pathlib import Path

from conftest import write_tree

from hdrtest.relevance import Reason, relevant_options
from hdrtest.scan.directives import scan_directives
from hdrtest.scan.options import OptionFilter
from hdrtest.scan.symbols import SymbolIndex

DEFS = """\
#ifdef CONFIG_A
#define WRAP(x) helper(x)
#endif
#ifdef CONFIG_B
int both(void);
#else
int both(void);
#endif
#ifdef CONFIG_C
static inline int helper(int x) { return x; }
#endif
"""
TOP = '#include "defs.h"\n#ifdef CONFIG_OWN\nint own;\n#endif\nstatic inline int use(void) { return WRAP(both()); }\n'


def reasons(tmp_path: Path, closure: set[str] | None = None, **kwargs: object) -> list[Reason]:
    write_tree(tmp_path, {"defs.h": DEFS, "top.h": TOP, "elsewhere.h": "#ifdef CONFIG_D\nint extra;\n#endif\n"})
    options = OptionFilter.from_args()
    index = SymbolIndex(options)
    index.add_files([tmp_path / name for name in ("defs.h", "top.h", "elsewhere.h")])
    own = [(b.start_line, b.formula) for b in scan_directives(TOP, "top.h").conditionals if not b.is_guard]
    if closure is None:
        closure = {str(tmp_path / "defs.h"), str(tmp_path / "top.h")}
    return relevant_options("top.h", own, ["WRAP", "both", "extra"], closure, index, options, tmp_path,
                            **kwargs)  # type: ignore[arg-type]


def test_own_tests_guards_and_bodies_each_at_their_depth(tmp_path: Path) -> None:
    found = reasons(tmp_path, touched={"CONFIG_T": "the change touched it"})
    assert [(r.option, r.depth) for r in found] == [("CONFIG_OWN", 0), ("CONFIG_T", 0), ("CONFIG_A", 1),
                                                    ("CONFIG_C", 2)]
    assert found[0].why == "top.h:2 tests it" and found[1].why == "the change touched it"
    assert "'WRAP'" in found[2].why and "defs.h:2" in found[2].why and found[2].why.endswith("used by top.h")
    assert "'helper'" in found[3].why and found[3].why.endswith("used by 'WRAP'")
    # CONFIG_B guards 'both' in both branches: it is defined in every configuration.


def test_depth_and_name_limits_and_the_closure(tmp_path: Path) -> None:
    assert [r.option for r in reasons(tmp_path, max_depth=1)] == ["CONFIG_OWN", "CONFIG_A"]
    assert [r.option for r in reasons(tmp_path, max_names=0)] == ["CONFIG_OWN"]
    # A definition outside the closure does not count (elsewhere.h's CONFIG_D), nor do ones beyond it.
    everything = {str(tmp_path / n) for n in ("defs.h", "top.h", "elsewhere.h")}
    assert "CONFIG_D" in {r.option for r in reasons(tmp_path, everything)}
    assert [r.option for r in reasons(tmp_path, {str(tmp_path / "top.h")})] == ["CONFIG_OWN"]
