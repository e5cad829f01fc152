"""The per-header cap on flipped options (``Strategy.max_options``) is spent on flips that give a variant.

In Linux most fragile options of a header's closure cannot be flipped alone (``HAVE_STATIC_CALL``,
``ARCH_HAS_ILOG2_U32``: selected by the architecture); when they came first in closure order they used
up the cap, and the option whose flip breaks the header was never tried (issue 14's unprompted misses).
"""

from __future__ import annotations

from pathlib import Path

from conftest import hdrtest, write_tree

CAP = 12  # variants.Strategy.max_options


def tree(root: Path, hidden: int, settable: int) -> None:
    """``hidden`` options Kconfig cannot turn off, then ``settable`` user options, each guarding a struct that
    deep.h embeds without a stub, in that order; every option is on in the baseline."""
    hidden_names = [f"HID{i}" for i in range(hidden)]
    user_names = [f"USR{i}" for i in range(settable)]
    kconfig = "".join(f"config {n}\n\tbool\n\tdefault y\n\n" for n in hidden_names)
    kconfig += "".join(f'config {n}\n\tbool "{n.lower()}"\n\tdefault y\n\n' for n in user_names)
    names = hidden_names + user_names
    guarded = "".join(f"#ifdef CONFIG_{n}\nstruct s_{n} {{ int v; }};\n#endif\n" for n in names)
    fields = "".join(f"\tstruct s_{n} f_{n};\n" for n in names)
    write_tree(root, {
        "Kconfig": kconfig,
        ".config": "".join(f"CONFIG_{n}=y\n" for n in names),
        "hdrtest.toml": 'kconfig = "Kconfig"\n',
        "guards.h": f"#ifndef GUARDS_H\n#define GUARDS_H\n{guarded}#endif\n",
        "deep.h": f'#ifndef DEEP_H\n#define DEEP_H\n#include "guards.h"\nstruct deep {{\n{fields}}};\n#endif\n',
        "top.h": '#include "deep.h"\nint top;\n',
    })


def check(root: Path, compiler: str, names: list[str]) -> tuple[int, dict]:  # type: ignore[type-arg]
    flags = " ".join(f"-DCONFIG_{n}" for n in names)
    run = hdrtest("check", "--cc", compiler, f"--cflags={flags}", "--format", "json", "top.h", cwd=root)
    return run.returncode, run.json()


def variants_of(data: dict) -> dict[str, str]:  # type: ignore[type-arg]
    return {r["variant"]["name"]: r["status"] for r in data["results"] if r["header"] == "top.h"}


def test_options_kconfig_cannot_flip_do_not_use_up_the_cap(tmp_path: Path, compiler: str) -> None:
    tree(tmp_path, hidden=CAP + 1, settable=1)
    code, data = check(tmp_path, compiler, [f"HID{i}" for i in range(CAP + 1)] + ["USR0"])
    # The one option whose flip Kconfig allows comes after more unflippable fragile options than the cap.
    assert variants_of(data) == {"baseline": "pass", "CONFIG_USR0=n": "fail"}
    assert code == 1
    assert data["relevant_options"]["top.h"]["CONFIG_USR0"].startswith("deep.h:")
    # The unflippable ones are still named, as flips the configuration system does not allow.
    notes = "\n".join(data.get("notes", []))
    assert "top.h: CONFIG_HID0=n: the configuration system does not allow it" in notes, notes


def test_the_cap_still_bounds_the_variants_that_give_one(tmp_path: Path, compiler: str) -> None:
    tree(tmp_path, hidden=2, settable=CAP + 2)
    code, data = check(tmp_path, compiler, ["HID0", "HID1"] + [f"USR{i}" for i in range(CAP + 2)])
    assert code == 1
    flipped = {name for name in variants_of(data) if name != "baseline"}
    # The first CAP settable options in closure order, the last two left out and counted.
    assert flipped == {f"CONFIG_USR{i}=n" for i in range(CAP)}
    assert "top.h: 2 more relevant option(s) not flipped" in data.get("notes", [])
