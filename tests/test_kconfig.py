"""Tests for hdrtest.kconfig: real kconfiglib on miniature trees, real kconfig on Linux."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from hdrtest.kconfig import (
    KconfigError,
    KconfiglibBackend,
    KernelConfBackend,
    Resolution,
    defines_for_changes,
    detect,
    kconfig_env_from_cmd,
    parse_dotconfig,
    plain_flip,
    scan_kconfig_text,
)
from hdrtest.kconfig.scan import SymInfo
from hdrtest.kconfig.values import combine
from hdrtest.models import OptionSetting

# Mirrors the kernel case: KVM_EXTERNAL_WRITE_TRACKING and DRM_I915_GVT are hidden and only
# selected by DRM_I915_GVT_KVMGT.  The drivers part lives in a sourced file, so $srctree
# handling is exercised too.
TOP_KCONFIG = """\
mainmenu "mini"

config MODULES
	bool "Enable loadable module support"
	option modules
	default y

config KVM
	tristate "Kernel-based Virtual Machine (KVM) support"

config KVM_EXTERNAL_WRITE_TRACKING
	bool

config ALWAYS_ON
	def_bool y

config LOG_BUF_SHIFT
	int "Kernel log buffer size"
	depends on DRM_I915
	default 17

config LOCALVERSION
	string "Local version"
	default ""

config NET
	bool "Networking"

config NET_EXTRA
	bool "Networking extras"
	depends on NET

choice
	prompt "Timer frequency"
	default HZ_250

config HZ_250
	bool "250 HZ"

config HZ_1000
	bool "1000 HZ"

endchoice

source "drivers/Kconfig"
"""

DRIVERS_KCONFIG = """\
config DRM_I915
	tristate "Intel 8xx/9xx/G3x/G4x/HD Graphics"

config DRM_I915_GVT
	bool

config DRM_I915_GVT_KVMGT
	tristate "Enable KVM host support Intel GVT-g graphics virtualization"
	depends on DRM_I915 && KVM
	select DRM_I915_GVT
	select KVM_EXTERNAL_WRITE_TRACKING
	help
	  Choose this option if you want to enable Intel GVT-g. This help
	  text says select NET_EXTRA to check that help is not parsed.

config CRC32
	tristate "CRC32 functions"

config BTRFS_FS
	tristate "Btrfs filesystem"
	select CRC32
"""

ALL_ON = """\
CONFIG_MODULES=y
CONFIG_KVM=y
CONFIG_KVM_EXTERNAL_WRITE_TRACKING=y
CONFIG_ALWAYS_ON=y
CONFIG_LOG_BUF_SHIFT=17
CONFIG_LOCALVERSION=""
CONFIG_NET=y
CONFIG_NET_EXTRA=y
CONFIG_HZ_250=y
# CONFIG_HZ_1000 is not set
CONFIG_DRM_I915=y
CONFIG_DRM_I915_GVT=y
CONFIG_DRM_I915_GVT_KVMGT=y
CONFIG_CRC32=y
CONFIG_BTRFS_FS=y
"""


def make_tree(base: Path, config: str = ALL_ON) -> Path:
    root = base / "tree"
    (root / "drivers").mkdir(parents=True)
    (root / "Kconfig").write_text(TOP_KCONFIG)
    (root / "drivers" / "Kconfig").write_text(DRIVERS_KCONFIG)
    (root / ".config").write_text(config)
    return root


def tree_digest(root: Path) -> str:
    """Names, contents and mtimes of everything under ``root``."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in sorted(os.walk(root)):
        dirnames.sort()
        h.update(dirpath.encode())
        for name in sorted(filenames):
            p = Path(dirpath, name)
            h.update(name.encode())
            h.update(p.read_bytes())
            h.update(str(p.stat().st_mtime_ns).encode())
    return h.hexdigest()


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path)


@pytest.fixture()
def backend(tree: Path) -> KconfiglibBackend:
    return KconfiglibBackend(tree, tree / "Kconfig", tree / ".config")


def names(changed: tuple[tuple[str, str, str], ...]) -> set[str]:
    return {n for n, _o, _v in changed}


# --------------------------------------------------------------------------- kconfiglib


def test_hidden_option_is_turned_off_through_its_selector(backend: KconfiglibBackend) -> None:
    res = backend.flip("CONFIG_KVM_EXTERNAL_WRITE_TRACKING", "n")
    assert res is not None
    assert res.achieved
    assert res.requested == OptionSetting("CONFIG_KVM_EXTERNAL_WRITE_TRACKING", "n")
    assert res.via == (OptionSetting("CONFIG_DRM_I915_GVT_KVMGT", "n"),)
    assert ("CONFIG_KVM_EXTERNAL_WRITE_TRACKING", "y", "n") in res.changed
    assert ("CONFIG_DRM_I915_GVT", "y", "n") in res.changed
    assert ("CONFIG_DRM_I915_GVT_KVMGT", "y", "n") in res.changed
    assert names(res.changed) == {"CONFIG_KVM_EXTERNAL_WRITE_TRACKING", "CONFIG_DRM_I915_GVT",
                                  "CONFIG_DRM_I915_GVT_KVMGT"}
    assert ("CONFIG_KVM_EXTERNAL_WRITE_TRACKING", None) in res.defines
    assert ("CONFIG_DRM_I915_GVT_KVMGT_MODULE", None) in res.defines
    assert res.config_lines == ("# CONFIG_DRM_I915_GVT_KVMGT is not set",)
    # The Variant a user reads: what was set, and what Kconfig did as a consequence.
    variant = combine([res], "", "kvm-ewt-off")
    assert variant.changes == (OptionSetting("CONFIG_DRM_I915_GVT_KVMGT", "n"),)
    assert set(variant.implied) == {OptionSetting("CONFIG_KVM_EXTERNAL_WRITE_TRACKING", "n"),
                                    OptionSetting("CONFIG_DRM_I915_GVT", "n")}


def test_impossible_flip_returns_none(backend: KconfiglibBackend) -> None:
    # def_bool y without dependencies: nothing a user sets can turn it off.
    assert backend.flip("CONFIG_ALWAYS_ON", "n") is None
    assert backend.flip("CONFIG_NO_SUCH_OPTION", "n") is None
    # A bool cannot be m: read back says no.
    assert backend.flip("CONFIG_NET", "m") is None


def test_tristate_module_defines_module_macro(backend: KconfiglibBackend) -> None:
    res = backend.flip("CONFIG_DRM_I915_GVT_KVMGT", "m")
    assert res is not None and res.achieved
    assert res.via == (OptionSetting("CONFIG_DRM_I915_GVT_KVMGT", "m"),)
    # A bool selected by an =m symbol stays y: only the tristate changed.
    assert res.changed == (("CONFIG_DRM_I915_GVT_KVMGT", "y", "m"),)
    assert res.defines == (("CONFIG_DRM_I915_GVT_KVMGT", None),
                           ("CONFIG_DRM_I915_GVT_KVMGT_MODULE", "1"))
    assert res.config_lines == ("CONFIG_DRM_I915_GVT_KVMGT=m",)


def test_plain_user_option_and_its_dependents(backend: KconfiglibBackend) -> None:
    res = backend.flip("KVM", "n")  # the prefix is optional on input
    assert res is not None and res.achieved
    assert res.via == (OptionSetting("CONFIG_KVM", "n"),)
    # KVMGT depends on KVM, so it and what it selects go too.
    assert names(res.changed) == {"CONFIG_KVM", "CONFIG_DRM_I915_GVT_KVMGT",
                                  "CONFIG_DRM_I915_GVT", "CONFIG_KVM_EXTERNAL_WRITE_TRACKING"}


def test_valued_options_become_literal_macros(backend: KconfiglibBackend) -> None:
    res = backend.flip("CONFIG_LOG_BUF_SHIFT", "12")
    assert res is not None and res.achieved
    assert res.defines == (("CONFIG_LOG_BUF_SHIFT", "12"),)
    res = backend.flip("CONFIG_LOCALVERSION", 'say "hi"')
    assert res is not None and res.achieved
    assert res.defines == (("CONFIG_LOCALVERSION", '"say \\"hi\\""'),)
    # An int whose dependency goes away disappears from autoconf.h.
    res = backend.flip("CONFIG_DRM_I915", "n")
    assert res is not None and res.achieved
    assert ("CONFIG_LOG_BUF_SHIFT", "17", "n") in res.changed
    assert ("CONFIG_LOG_BUF_SHIFT", None) in res.defines


def test_selected_user_option_needs_its_selector_too(backend: KconfiglibBackend) -> None:
    res = backend.flip("CONFIG_CRC32", "n")
    assert res is not None and res.achieved
    assert set(res.via) == {OptionSetting("CONFIG_CRC32", "n"), OptionSetting("CONFIG_BTRFS_FS", "n")}
    # For =m the selector only has to come down to m, not off.
    res = backend.flip("CONFIG_CRC32", "m")
    assert res is not None and res.achieved
    assert set(res.via) == {OptionSetting("CONFIG_CRC32", "m"), OptionSetting("CONFIG_BTRFS_FS", "m")}
    assert ("CONFIG_CRC32_MODULE", "1") in res.defines


def test_turning_on_enables_dependencies(tmp_path: Path) -> None:
    root = make_tree(tmp_path, ALL_ON.replace("CONFIG_NET=y", "# CONFIG_NET is not set")
                     .replace("CONFIG_NET_EXTRA=y", "# CONFIG_NET_EXTRA is not set"))
    backend = KconfiglibBackend(root, root / "Kconfig", root / ".config")
    res = backend.flip("CONFIG_NET_EXTRA", "y")
    assert res is not None and res.achieved
    assert set(res.via) == {OptionSetting("CONFIG_NET_EXTRA", "y"), OptionSetting("CONFIG_NET", "y")}
    assert ("CONFIG_NET", "1") in res.defines and ("CONFIG_NET_EXTRA", "1") in res.defines


def test_choice_member_off_selects_another(backend: KconfiglibBackend) -> None:
    res = backend.flip("CONFIG_HZ_250", "n")
    assert res is not None and res.achieved
    assert res.via == (OptionSetting("CONFIG_HZ_1000", "y"),)
    assert set(res.changed) == {("CONFIG_HZ_250", "y", "n"), ("CONFIG_HZ_1000", "n", "y")}


def test_no_change_needed(backend: KconfiglibBackend) -> None:
    res = backend.flip("CONFIG_KVM", "y")
    assert res == Resolution(requested=OptionSetting("CONFIG_KVM", "y"), achieved=True)


def test_types_and_baseline(backend: KconfiglibBackend) -> None:
    assert backend.symbol_type("CONFIG_KVM") == "tristate"
    assert backend.symbol_type("CONFIG_DRM_I915_GVT_KVMGT") == "tristate"
    assert backend.symbol_type("CONFIG_KVM_EXTERNAL_WRITE_TRACKING") != "tristate"
    assert backend.symbol_type("CONFIG_LOG_BUF_SHIFT") == "int"
    assert backend.symbol_type("CONFIG_NOPE") is None
    assert backend.known("CONFIG_DRM_I915_GVT") and not backend.known("CONFIG_NOPE")
    base = backend.baseline()
    assert base["CONFIG_KVM_EXTERNAL_WRITE_TRACKING"] == "y"
    assert base["CONFIG_HZ_1000"] == "n"
    assert base["CONFIG_LOCALVERSION"] == '""'


def test_nothing_is_written_into_the_tree(tree: Path) -> None:
    before = tree_digest(tree)
    backend = KconfiglibBackend(tree, tree / "Kconfig", tree / ".config")
    for option, value in [("CONFIG_KVM_EXTERNAL_WRITE_TRACKING", "n"), ("CONFIG_CRC32", "m"),
                          ("CONFIG_HZ_250", "n"), ("CONFIG_ALWAYS_ON", "n")]:
        backend.flip(option, value)
    assert tree_digest(tree) == before
    assert "srctree" not in os.environ or os.environ["srctree"] != str(tree)


def test_repeated_flip_is_served_from_memory(backend: KconfiglibBackend) -> None:
    first = backend.flip("CONFIG_KVM_EXTERNAL_WRITE_TRACKING", "n")
    assert backend.flip("CONFIG_KVM_EXTERNAL_WRITE_TRACKING", "n") is first
    # And the engine went back to the baseline between requests.
    res = backend.flip("CONFIG_DRM_I915_GVT_KVMGT", "m")
    assert res is not None and res.changed == (("CONFIG_DRM_I915_GVT_KVMGT", "y", "m"),)


def test_unparsable_kconfig_raises(tmp_path: Path) -> None:
    root = tmp_path / "bad"
    root.mkdir()
    (root / "Kconfig").write_text('config FOO\n\tbool "x"\n\tdepends on (\n')
    (root / ".config").write_text("CONFIG_FOO=y\n")
    with pytest.raises(KconfigError):
        detect(root, None, None, tmp_path / "work")


# --------------------------------------------------------------------------- detection


def test_detect_picks_the_backend(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    assert isinstance(detect(root, None, None, tmp_path / "w"), KconfiglibBackend)

    # --kconfig somewhere else, with an explicit .config.
    other = tmp_path / "proj"
    (other / "conf").mkdir(parents=True)
    (other / "conf" / "Kconfig").write_text('config FOO\n\tbool "foo"\n')
    (other / "my.config").write_text("CONFIG_FOO=y\n")
    found = detect(other, Path("conf/Kconfig"), other / "my.config", tmp_path / "w")
    assert isinstance(found, KconfiglibBackend)
    assert found.baseline() == {"CONFIG_FOO": "y"}

    # No .config: no backend.
    (root / ".config").unlink()
    assert detect(root, None, None, tmp_path / "w") is None
    plain = tmp_path / "plain"
    plain.mkdir()
    assert detect(plain, None, None, tmp_path / "w") is None

    # A Linux-shaped tree goes to the kernel's own tools (nothing is run yet).
    linux = tmp_path / "linux"
    (linux / "scripts" / "kconfig").mkdir(parents=True)
    (linux / "scripts" / "kconfig" / "Makefile").write_text("")
    (linux / "arch").mkdir()
    (linux / ".config").write_text("CONFIG_FOO=y\n# CONFIG_BAR is not set\n")
    # Not prepared (no auto.conf.cmd to replay): evaluating it would mean make olddefconfig in the tree (which
    # builds conf there), so the run is refused once, naming the fix, and nothing is written into the tree.
    before = sorted(p.relative_to(linux) for p in linux.rglob("*"))
    with pytest.raises(KconfigError, match="run make prepare"):
        detect(linux, None, None, tmp_path / "w")
    kernel = KernelConfBackend(linux, linux / ".config", tmp_path / "w")
    assert kernel.baseline() == {"CONFIG_FOO": "y", "CONFIG_BAR": "n"}
    assert kernel.mode == "unprepared"
    with pytest.raises(KconfigError, match="run make prepare"):  # the guard a direct caller meets
        kernel.flip("CONFIG_FOO", "n")
    assert sorted(p.relative_to(linux) for p in linux.rglob("*")) == before


# --------------------------------------------------------------------------- pure functions


def test_defines_for_changes_follows_autoconf() -> None:
    changed = [("CONFIG_A", "n", "y"), ("CONFIG_B", "y", "m"), ("CONFIG_C", "m", "n"),
               ("CONFIG_S", '"a"', '"b"'), ("CONFIG_I", "1", "2"), ("CONFIG_H", "0x1", "ff"),
               ("CONFIG_GONE", "5", "n"), ("CONFIG_U", "n", "y")]
    types: dict[str, str | None] = {"CONFIG_A": "bool", "CONFIG_B": "tristate",
                                    "CONFIG_C": "tristate", "CONFIG_S": "string",
                                    "CONFIG_I": "int", "CONFIG_H": "hex", "CONFIG_GONE": "int"}
    assert defines_for_changes(changed, types) == (
        ("CONFIG_A", "1"), ("CONFIG_A_MODULE", None),
        ("CONFIG_B", None), ("CONFIG_B_MODULE", "1"),
        ("CONFIG_C", None), ("CONFIG_C_MODULE", None),
        ("CONFIG_S", '"b"'),
        ("CONFIG_I", "2"),
        ("CONFIG_H", "0xff"),
        ("CONFIG_GONE", None),
        ("CONFIG_U", "1"), ("CONFIG_U_MODULE", None),
    )


def test_plain_flip() -> None:
    on = plain_flip("USE_THREADS", "y")
    assert on.achieved and on.via == () and on.defines == (("USE_THREADS", "1"),)
    assert plain_flip("USE_THREADS", "n").defines == (("USE_THREADS", None),)
    assert plain_flip("BUF", "64").defines == (("BUF", "64"),)
    assert plain_flip("CONFIG_X", "m").defines == (("CONFIG_X", None), ("CONFIG_X_MODULE", "1"))


def test_parse_dotconfig() -> None:
    text = '#\n# comment\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_S="x y"\nCONFIG_H=0x10\n'
    assert parse_dotconfig(text) == {"CONFIG_A": "y", "CONFIG_B": "n", "CONFIG_S": '"x y"',
                                     "CONFIG_H": "0x10"}


def test_scan_kconfig_text() -> None:
    idx: dict[str, SymInfo] = {}
    text = TOP_KCONFIG + DRIVERS_KCONFIG + """
if NET
config NET_SUB
	def_bool y
	depends on \\
		KVM
endif
menu "Stuff"
	depends on DRM_I915
config IN_MENU
	bool
	prompt "in menu"
endmenu
"""
    scan_kconfig_text(text, idx)
    assert idx["KVM_EXTERNAL_WRITE_TRACKING"].type == "bool"
    assert not idx["KVM_EXTERNAL_WRITE_TRACKING"].prompt
    assert idx["KVM_EXTERNAL_WRITE_TRACKING"].selected_by == [("DRM_I915_GVT_KVMGT", "select")]
    assert idx["DRM_I915_GVT_KVMGT"].prompt and idx["DRM_I915_GVT_KVMGT"].type == "tristate"
    assert idx["DRM_I915_GVT_KVMGT"].depends == {"DRM_I915", "KVM"}
    assert idx["NET_EXTRA"].selected_by == []  # "select NET_EXTRA" is only help text
    assert idx["HZ_250"].choice is not None and idx["HZ_250"].choice == idx["HZ_1000"].choice
    assert idx["NET"].choice is None
    assert idx["NET_SUB"].type == "bool" and idx["NET_SUB"].depends == {"NET", "KVM"}
    assert idx["IN_MENU"].prompt and idx["IN_MENU"].depends == {"DRM_I915"}


def test_kconfig_env_from_cmd(tmp_path: Path) -> None:
    cmd = tmp_path / "auto.conf.cmd"
    cmd.write_text('deps_config := \\\n\tKconfig\n\nifneq "$(CC)" "gcc"\ninclude/config/auto.conf: FORCE\n'
                   'endif\nifneq "$(CC_VERSION_TEXT)" "gcc (Debian 12.2.0-14) 12.2.0"\n'
                   'include/config/auto.conf: FORCE\nendif\n')
    assert kconfig_env_from_cmd(cmd) == {"CC": "gcc",
                                         "CC_VERSION_TEXT": "gcc (Debian 12.2.0-14) 12.2.0"}
    assert kconfig_env_from_cmd(tmp_path / "missing") == {}


# --------------------------------------------------------------------------- Linux


def linux_tree() -> Path:
    value = os.environ.get("HDRTEST_LINUX_TREE")
    if not value or not (Path(value) / ".config").is_file():
        pytest.skip("HDRTEST_LINUX_TREE does not point at a configured Linux tree")
    return Path(value)


def newer_than(root: Path, stamp: float) -> list[str]:
    """Files and directories under ``root`` changed since ``stamp`` (outside .git)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in [*dirnames, *filenames, "."]:
            p = Path(dirpath, name)
            try:
                if p.lstat().st_mtime > stamp:
                    out.append(str(p))
            except FileNotFoundError:
                out.append(str(p))
    return out


@pytest.mark.linux
@pytest.mark.slow
def test_kernel_backend_turns_off_kvm_write_tracking(tmp_path: Path) -> None:
    root = linux_tree()
    base = parse_dotconfig((root / ".config").read_text())
    if base.get("CONFIG_DRM_I915_GVT_KVMGT") not in ("y", "m"):
        pytest.skip("the tree's .config does not enable DRM_I915_GVT_KVMGT")
    stamp = time.time()
    time.sleep(0.05)
    backend = detect(root, None, None, tmp_path / "work")
    assert isinstance(backend, KernelConfBackend)
    assert backend.symbol_type("CONFIG_KVM_EXTERNAL_WRITE_TRACKING") == "bool"
    assert backend.symbol_type("CONFIG_DRM_I915_GVT_KVMGT") == "tristate"
    res = backend.flip("CONFIG_KVM_EXTERNAL_WRITE_TRACKING", "n")
    assert res is not None and res.achieved
    assert res.via == (OptionSetting("CONFIG_DRM_I915_GVT_KVMGT", "n"),)
    assert {"CONFIG_KVM_EXTERNAL_WRITE_TRACKING", "CONFIG_DRM_I915_GVT",
            "CONFIG_DRM_I915_GVT_KVMGT"} <= names(res.changed)
    assert ("CONFIG_KVM_EXTERNAL_WRITE_TRACKING", None) in res.defines
    assert backend.timings  # olddefconfig really ran
    # Hidden and unconditional: there is nothing to turn off.
    assert backend.flip("CONFIG_X86", "n") is None
    assert newer_than(root, stamp) == []

    # A second instance on the same workdir answers from the disk cache without running.
    again = KernelConfBackend(root, root / ".config", tmp_path / "work")
    assert again.flip("CONFIG_KVM_EXTERNAL_WRITE_TRACKING", "n") == res
    assert again.timings == []


def test_kconfig_fingerprint_follows_kconfig_files(tmp_path: Path) -> None:
    from hdrtest.kconfig import kconfig_fingerprint

    (tmp_path / "include" / "config").mkdir(parents=True)
    (tmp_path / "Kconfig").write_text("config A\n\tbool\n")
    (tmp_path / "include" / "config" / "auto.conf.cmd").write_text(
        'deps_config := \\\n\tKconfig \\\n\n$(autoconfig): $(deps_config)\n')
    first = kconfig_fingerprint(tmp_path)
    assert first and kconfig_fingerprint(tmp_path) == first
    (tmp_path / "Kconfig").write_text("config A\n\tbool \"a\"\n")
    assert kconfig_fingerprint(tmp_path) != first
    assert kconfig_fingerprint(tmp_path / "nowhere") == ""


def test_kconfig_tree_index_is_kept_under_the_fingerprint(tmp_path: Path) -> None:
    root = tmp_path / "linux"
    (root / "include" / "config").mkdir(parents=True)
    (root / "Kconfig").write_text("config A\n\tbool \"a\"\nconfig T\n\ttristate \"t\"\n")
    (root / "include" / "config" / "auto.conf.cmd").write_text(
        'deps_config := \\\n\tKconfig \\\n\n$(autoconfig): $(deps_config)\n')
    (root / ".config").write_text("CONFIG_A=y\n# CONFIG_T is not set\n")
    work = tmp_path / "work"
    backend = KernelConfBackend(root, root / ".config", work)
    assert backend.known("CONFIG_A") and backend.symbol_type("CONFIG_T") == "tristate" and not backend.known("CONFIG_NOPE")
    [stored] = (work / "cache").glob("tree-*.pickle")
    # A new scan would see CONFIG_LATER; the stored index does not (Kconfig.extra is not in deps_config).
    (root / "Kconfig.extra").write_text("config LATER\n\tbool \"later\"\n")
    assert not KernelConfBackend(root, root / ".config", work).known("CONFIG_LATER")
    stored.write_bytes(b"damaged")
    assert KernelConfBackend(root, root / ".config", work).known("CONFIG_LATER")  # rescanned
    # An edit to a Kconfig file conf read changes the fingerprint, so the tree is scanned again.
    (root / "Kconfig").write_text("config A\n\tbool \"a\"\nconfig T\n\tbool \"t\"\n")
    assert KernelConfBackend(root, root / ".config", work).symbol_type("CONFIG_T") != "tristate"


def test_baseline_answers_known_without_reading_kconfig(tmp_path: Path) -> None:
    root = tmp_path / "linux"
    root.mkdir()
    (root / ".config").write_text("CONFIG_A=y\nCONFIG_M=m\nCONFIG_S=\"x\"\n")
    backend = KernelConfBackend(root, root / ".config", tmp_path / "work")
    assert backend.known("CONFIG_A") and backend.symbol_type("CONFIG_M") == "tristate"
    assert backend.symbol_type("CONFIG_S") == "string"
    assert backend._index is None  # no Kconfig file was read


@pytest.mark.linux
@pytest.mark.slow
def test_kernel_flips_run_concurrently_with_the_serial_answers(tmp_path: Path) -> None:
    from hdrtest.variants import Flipper

    root = linux_tree()
    wanted = [("CONFIG_PM", "n"), ("CONFIG_SMP", "n"), ("CONFIG_KVM_EXTERNAL_WRITE_TRACKING", "n"),
              ("CONFIG_PM", "n"), ("CONFIG_DEBUG_LOCK_ALLOC", "y")]
    serial = KernelConfBackend(root, root / ".config", tmp_path / "serial")
    expected = {key: serial.flip(*key) for key in wanted}
    together = KernelConfBackend(root, root / ".config", tmp_path / "together")
    flipper = Flipper(together)
    flipper.prefetch(wanted, 3)
    assert {key: flipper.resolve(*key) for key in wanted} == expected
    # The repeated flip was evaluated once, and every evaluation ran in its own directory.
    assert len(together.timings) == len(serial.timings)
    assert not list((tmp_path / "together" / "kconfig").glob("eval-*"))
