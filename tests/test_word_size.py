"""Variants that change the word size are not compiled in a Linux tree: the build's -m64/-m32 stays."""

from __future__ import annotations

from hdrtest.kbuild_flags import FlagRule
from hdrtest.models import OptionSetting, Variant
from hdrtest.variants import _word_size_changes


def _variant(name: str, *defines: tuple[str, str | None]) -> Variant:
    # What Kconfig answers: the option asked for, then what it implied, as the macros say.
    settings = [OptionSetting(n, "n" if v is None else "y") for n, v in defines]
    return Variant(name=name, changes=tuple(settings[:1]), implied=tuple(settings[1:]), defines=defines)


def test_only_variants_changing_a_word_size_option_are_set_aside_with_the_reason() -> None:
    smp = _variant("CONFIG_SMP=n", ("CONFIG_SMP", None), ("CONFIG_NR_CPUS", "1"))
    # Turning CONFIG_X86_64 off is asked for; Kconfig implies CONFIG_64BIT off too.
    abi = _variant("CONFIG_X86_64=n", ("CONFIG_X86_64", None), ("CONFIG_64BIT", None), ("CONFIG_X86_32", "1"))
    # A macro that merely contains the name is not a word-size option.
    near = _variant("CONFIG_64BIT_TIME=n", ("CONFIG_64BIT_TIME", None))
    found = _word_size_changes([smp, abi, near], FlagRule(word_size=True))
    assert list(found) == ["CONFIG_X86_64=n"]
    assert found["CONFIG_X86_64=n"].startswith("not compiled: it changes CONFIG_X86_64, CONFIG_64BIT, CONFIG_X86_32,")
    assert "-m64/-m32" in found["CONFIG_X86_64=n"]
    # Outside a Linux tree the word size is the configuration's to change.
    assert _word_size_changes([abi], FlagRule()) == {}
