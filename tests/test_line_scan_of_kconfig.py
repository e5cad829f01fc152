"""The Kconfig line scan (no Kconfig engine): blocks, choices and the attributes of a config entry."""

from __future__ import annotations

from hdrtest.kconfig.scan import SymInfo, scan_kconfig_text


def test_scan_kconfig_text_blocks_and_entries() -> None:
    idx: dict[str, SymInfo] = {}
    text = """
choice
	prompt "Mode"
	depends on BASE
config MODE_A
	bool "a"
	imply HELPER
endchoice
menu "M"
if OUTER
config INNER
	def_tristate m
comment "a comment ends the entry"
	select NOT_FROM_INNER
endmenu
config
config AFTER
	string
	depends off
	select
"""
    assert scan_kconfig_text(text, idx, choice_base=7) == 8
    assert idx["MODE_A"].choice == 7 and idx["MODE_A"].depends == {"BASE"}
    assert idx["HELPER"].selected_by == [("MODE_A", "imply")]
    assert idx["INNER"].type == "tristate" and idx["INNER"].depends == {"OUTER"} and not idx["INNER"].prompt
    assert "NOT_FROM_INNER" not in idx  # a select after a comment belongs to no symbol
    # endmenu closes the if left open inside it: AFTER depends on nothing and is in no choice.
    assert (idx["AFTER"].type, idx["AFTER"].depends, idx["AFTER"].choice, idx["AFTER"].selected_by) == (
        "string", set(), None, [])
    assert set(idx) == {"MODE_A", "HELPER", "INNER", "AFTER"}
