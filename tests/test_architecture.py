"""The package's shape, checked: one owner per question, no import cycles, small modules.

These read the source with ``ast``; they fail when a change re-introduces what the
architecture issue removed (a second way to run a program, an import circle, a module
that grew past 600 lines, an import of the package's own modules hidden in a function).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "hdrtest"
#: Optional or heavy third-party modules that may be imported where they are needed, each for a reason:
#: start-up of a run that does not use them stays cheap, and an optional extra may be missing.
LAZY_OK = {"tree_sitter", "tree_sitter_c", "kconfiglib", "rich", "distributed", "dask", "pycosat",
           "importlib.metadata"}
MAX_LINES = 600


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> list[str]:
    if node.level == 0:
        base = node.module or ""
    else:
        parts = module.split(".")
        keep = len(parts) - node.level + (1 if is_package else 0)
        base = ".".join(parts[:keep] + ([node.module] if node.module else []))
    names = [base]
    names += [f"{base}.{alias.name}" for alias in node.names]
    return names


def _imports(top_level_only: bool) -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nodes = tree.body if top_level_only else list(ast.walk(tree))
        found: set[str] = set()
        for node in nodes:
            if isinstance(node, ast.If) and top_level_only:
                continue  # `if TYPE_CHECKING:` imports are for the type checker only
            if isinstance(node, ast.ImportFrom):
                for target in _resolve(name, node, path.name == "__init__.py"):
                    if target in modules and target != name:
                        found.add(target)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name in modules)
        graph[name] = found
    return graph


def test_subprocess_is_imported_by_the_runner_only() -> None:
    users = []
    for name, path in _modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import) and any(a.name == "subprocess" for a in node.names) or isinstance(node, ast.ImportFrom) and node.module == "subprocess":
                users.append(name)
    assert sorted(set(users)) == ["hdrtest.toolchain.run"]


def test_git_runs_through_the_one_wrapper() -> None:
    offenders = []
    for name, path in _modules().items():
        if name == "hdrtest.graph.vcs":
            continue
        text = path.read_text(encoding="utf-8")
        if '["git"' in text or "('git'" in text or '("git"' in text:
            offenders.append(name)
    assert offenders == []


def test_no_import_cycles() -> None:
    graph = _imports(top_level_only=True)
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    # A package __init__ importing its own submodules is not a cycle of behaviour.
    real = [c for c in cycles if not all(c[0].startswith(m + ".") or m.startswith(c[0]) for m in c)]
    assert real == []


def test_no_package_imports_inside_functions() -> None:
    hidden = []
    for name, path in _modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in ast.walk(tree):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").startswith("hdrtest")):
                    hidden.append(f"{name}.{func.name}: from {'.' * node.level}{node.module or ''}")
                elif isinstance(node, ast.Import) and not all(a.name.split(".")[0] in LAZY_OK or a.name in LAZY_OK
                                                              for a in node.names):
                    hidden.append(f"{name}.{func.name}: import {', '.join(a.name for a in node.names)}")
    assert hidden == []


def test_modules_stay_small() -> None:
    big = {name: n for name, path in _modules().items()
           if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert big == {}
