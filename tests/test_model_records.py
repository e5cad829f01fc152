"""The MODEL answer of the Kconfig helper read into records, record by record (its format: kconfig/model.py)."""

from __future__ import annotations

import pytest

from hdrtest.kconfig.model import Const, ModelError, parse_model


def test_every_record_kind_lands_on_its_symbol_or_choice() -> None:
    model = parse_model([
        "K 0", 'V EXPERT', 'F B "1"', "S A boolean", "V -", "F y & B ! C", "D B", "R | C D", "I E", "C 0",
        "S B integer", 'N "1" "9" -', 'N "2" "8" A', "S C tristate", "C 1", "K 1", "F - -",
    ])  # fmt: skip
    a, b, c = (model.symbols[n] for n in "ABC")
    assert (a.type, b.type, c.type) == ("bool", "int", "tristate")
    assert a.prompts == [None] and a.defaults == [("y", ("&", "B", ("!", "C")))]
    assert (a.depends, a.selected_by, a.implied_by) == ("B", ("|", "C", "D"), "E")
    assert b.ranges == [(Const("1"), Const("9"), None), (Const("2"), Const("8"), "A")]
    assert (a.choice, c.choice, b.choice) == (0, 1, None)
    first, second = model.choices
    assert (first.index, first.prompts, first.defaults, first.members) == (0, ["EXPERT"], [("B", Const("1"))], ["A"])
    assert (second.index, second.defaults, second.members) == (1, [(None, None)], ["C"])


@pytest.mark.parametrize("lines", [
    ["V -"], ["F - -"], ["D A"], ["S A bool", "K 0", "R A"], ["I A"], ['N "1" "2" -'], ["S A int", "N - - -"],
    ["C 0"], ["X 1"], ["S A bool", "D A B"], ["S A bool", "D"],
])
def test_records_out_of_place_or_unknown_are_refused(lines: list[str]) -> None:
    with pytest.raises(ModelError):
        parse_model(lines)
