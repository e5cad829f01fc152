"""The header sets the benchmark measures, as groups of headers sharing one tree and one way to get flags."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SETS = ("i915", "include-linux", "fallback")
UAPI = Path("/usr/include/linux")
#: Step 4's default deep header per set: git-tracked, included (transitively) by a handful of the set's headers.
DEFAULT_TOUCH = {
    "i915": "drivers/gpu/drm/i915/gt/intel_gt_types.h",
    "include-linux": "include/linux/usb/ch9.h",
    "usr-linux": "include/linux/if_ether.h",
}
_GIT_ID = ("-c", "user.name=hdrtest-bench", "-c", "user.email=hdrtest-bench@localhost")


@dataclass(frozen=True)
class Group:
    """Headers checked together: one tree root, one set of hdrtest options choosing their flags."""

    name: str
    root: Path
    headers: tuple[Path, ...]  # absolute, sorted by path
    #: hdrtest options besides the header paths; bench derives the make and bare-compiler flags from the same ones.
    options: tuple[str, ...]
    #: A git-tracked header of ``root`` to touch for step 4; None skips step 4 for this group.
    touch: Path | None
    #: How the headers were chosen (sampling), for the report.
    selection: str


def _hdrtest_headers(root: Path, directory: Path, options: tuple[str, ...]) -> list[Path]:
    """The headers hdrtest itself would check under ``directory`` (its discovery, its excludes)."""
    from hdrtest.cli import build_parser, settings_from_args
    from hdrtest.discover import discover

    args = build_parser().parse_args(["check", "--root", str(root), *options, str(directory)])
    settings = settings_from_args(args)
    headers, _ = discover([directory], settings)
    return [h.path for h in headers]


def _sampled(headers: list[Path], sample: int) -> tuple[tuple[Path, ...], str]:
    ordered = sorted(headers)
    if sample <= 1:
        return tuple(ordered), f"all {len(ordered)}"
    chosen = ordered[::sample]
    return tuple(chosen), f"1 in {sample} of {len(ordered)} (sorted by path, starting with the first): {len(chosen)}"


def _touch_path(root: Path, given: str | None, default: str) -> Path:
    path = root / (given or default)
    if not path.is_file():
        raise SystemExit(f"bench: header to touch not found: {path}")
    return path


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *_GIT_ID, "-C", str(root), *args], check=True, stdout=subprocess.DEVNULL)


def uapi_copy(out: Path) -> Path:
    """A private git repository holding a copy of /usr/include/linux, so step 4 can touch and restore a header."""
    root = out / "usr-linux"
    if not (root / ".git").is_dir():
        if root.exists():
            shutil.rmtree(root)
        (root / "include").mkdir(parents=True)
        shutil.copytree(UAPI, root / "include" / "linux", symlinks=True)
        _git(root, "init", "-q")
        _git(root, "add", "-A")
        _git(root, "commit", "-q", "-m", "copy of /usr/include/linux")
    return root


def build_set(name: str, tree: Path | None, out: Path, *, sample: int = 1, touch: str | None = None) -> list[Group]:
    if name in ("i915", "include-linux"):
        assert tree is not None
        root = tree.resolve()
        if not (root / "Makefile").is_file() or not (root / "compile_commands.json").is_file():
            raise SystemExit(f"bench: {root} is not a prepared Linux tree (run bench/setup-linux.sh)")
        sub = "drivers/gpu/drm/i915" if name == "i915" else "include/linux"
        headers, selection = _sampled(_hdrtest_headers(root, root / sub, ()), sample)
        return [Group(name, root, headers, (), _touch_path(root, touch, DEFAULT_TOUCH[name]), selection)]
    if not UAPI.is_dir():
        raise SystemExit(f"bench: {UAPI} is missing (install linux-libc-dev) and no --tree was given")
    root = uapi_copy(out)
    options = ("-I", str(root / "include"))
    headers, selection = _sampled(_hdrtest_headers(root, root / "include" / "linux", options), sample)
    groups = [Group("usr-linux", root, headers, options, _touch_path(root, touch, DEFAULT_TOUCH["usr-linux"]),
                    selection)]
    for example in sorted(p for p in (REPO / "examples").iterdir() if (p / "hdrtest.toml").is_file()):
        found = sorted(_hdrtest_headers(example, example, ()))
        groups.append(Group(f"examples/{example.name}", example, tuple(found), (), None, f"all {len(found)}"))
    return groups


def restore(root: Path, path: Path) -> None:
    """Put a touched header back as committed."""
    subprocess.run(["git", "-C", str(root), "checkout", "--", os.path.relpath(path, root)], check=True)
