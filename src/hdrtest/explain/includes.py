"""Which ``#include`` brings a name in: the spelling, the tree's habits, the standard headers, the edit."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from ..graph.resolve import SearchPath, job_search_path
from ..scan.cindex import Definition
from ..scan.formula import TRUE, evaluate
from .config import Values
from .context import Context, norm_path
from .files import Files


def include_spelling(target: Path, user: Path, search: SearchPath) -> str | None:
    """``<linux/kvm_host.h>`` or ``"local.h"``: how ``user`` can include ``target``."""
    target = Path(norm_path(target))
    if target.parent == Path(norm_path(user)).parent:
        return f'"{target.name}"'
    # The shortest spelling under an angled directory that the compiler resolves back to ``target``.
    angled = [target.relative_to(d).as_posix() for d in search.angled_chain() if target.is_relative_to(d)]
    reaching = [r for r in angled
                if (found := search.resolve(r, True, user)) is not None and norm_path(found) == str(target)]
    if reaching:
        return f"<{min(reaching, key=len)}>"
    quoted = next((target.relative_to(d).as_posix() for d in search.quote_chain() if target.is_relative_to(d)), None)
    return f'"{quoted}"' if quoted is not None else None


def sibling_spellings(user: Path, files: Files, limit: int = 200) -> dict[str, int]:
    """How often files next to ``user`` include each spelling: the tree's habits."""
    try:
        neighbours = sorted(p for p in user.parent.iterdir() if p.suffix in (".h", ".c", ".hh", ".hpp", ".cc", ".cpp"))
    except OSError:
        return {}
    return Counter(f"<{include.spelling}>" if include.angled else f'"{include.spelling}"'
                   for path in neighbours[:limit] for include in files.scan(str(path)).includes)


def through_habits(candidates: Sequence[Definition], habits: dict[str, int], user: Path, ctx: Context, *,
                   at_least: int, tries: int = 8) -> tuple[str, Definition, int] | None:
    """The most common include next to ``user`` (seen at least ``at_least`` times) whose own includes,
    followed along the branches taken in this configuration, reach a definition."""
    wanted = {norm_path(d.file): d for d in candidates}
    common = sorted(((count, spelled) for spelled, count in habits.items() if count >= max(2, at_least)),
                    key=lambda item: (-item[0], item[1]))
    for count, spelled in common[:tries]:
        found = ctx.search.resolve(spelled[1:-1], spelled.startswith("<"), user)
        if found is None:
            continue
        reached = _reached(norm_path(found), wanted, ctx)
        if reached is not None:
            return spelled, wanted[reached], count
    return None


#: C and POSIX headers, most basic first: a name one of them provides is best included from it.
STANDARD_HEADERS = ("stddef.h", "stdint.h", "stdbool.h", "limits.h", "stdarg.h", "errno.h", "stdio.h", "stdlib.h",
                    "string.h", "time.h", "sys/types.h", "sys/time.h", "sys/socket.h", "netinet/in.h", "net/if.h",
                    "unistd.h", "fcntl.h", "signal.h", "sys/ioctl.h")


def standard_header(name: str, kinds: set[str], user: Path, ctx: Context) -> tuple[str, Definition] | None:
    """``<stddef.h>`` and where it defines ``name``, when a standard header (with the compiler's own
    directories on the path) does; None in trees built without them (-nostdinc, as the kernel).

    Of several, the one whose own includes reach the definition soonest: ``u_short`` is
    ``<sys/types.h>``'s even though ``<stdlib.h>`` includes that.
    """
    best: tuple[int, int, str, Definition] | None = None
    for order, header in enumerate(STANDARD_HEADERS):
        depths = _standard_closure(header, user, ctx)
        for definition in ctx.index.lookup(name, kinds):
            depth = depths.get(norm_path(definition.file))
            if depth is not None and definition.complete and (best is None or (depth, order) < best[:2]):
                best = (depth, order, f"<{header}>", definition)
    return (best[2], best[3]) if best is not None else None


def _standard_closure(header: str, user: Path, ctx: Context) -> dict[str, int]:
    """Files ``<header>`` includes, directly or not, with their depth; indexed for lookups."""
    search = job_search_path(ctx.result.job)
    key = (header, id(search))
    known = ctx.files.standard.get(key)
    if known is not None:
        return known
    found = search.resolve(header, True, user)
    # Standard headers provide their names when included directly, whatever internal
    # guards (_STDDEF_H, __need_size_t) surround the definition: every branch counts.
    depths = dict(_included(norm_path(found), search, ctx.files, None, limit=200)) if found is not None else {}
    if depths:
        ctx.index.add(sorted(depths))
    ctx.files.standard[key] = depths
    return depths


def _included(start: str, search: SearchPath, files: Files, values: Values | None, *,
              limit: int) -> Iterator[tuple[str, int]]:
    """``start`` and the files it includes, directly or not, breadth first with their depth.

    ``values``: follow only the branches taken with these macros; None follows every branch.
    At most ``limit`` files are reached.
    """
    depths = {start: 0}
    queue = deque([start])
    while queue:
        path = queue.popleft()
        yield path, depths[path]
        for include in files.scan(path).includes:
            if include.computed or (values is not None and evaluate(include.condition, values) is False):
                continue
            resolve = search.resolve_next if include.kind == "include_next" else search.resolve
            target = resolve(include.spelling, include.angled, path)
            if target is not None and (name := norm_path(target)) not in depths and len(depths) < limit:
                depths[name] = depths[path] + 1
                queue.append(name)


def _reached(start: str, wanted: Mapping[str, object], ctx: Context, limit: int = 3000) -> str | None:
    """The first of ``wanted`` that ``start`` includes, directly or not, in this configuration."""
    values = ctx.values if ctx.unknown_reason is None else None  # unknown macros: every branch may be taken
    return next((path for path, _ in _included(start, ctx.search, ctx.files, values, limit=limit)
                 if path in wanted), None)


def include_line(user: Path, files: Files) -> int:
    """Where a new ``#include`` goes in ``user``: after its last unconditional one, else after its guard."""
    scan = files.scan(str(user))
    top = [i.line for i in scan.includes if i.condition == TRUE]
    if top:
        return max(top) + 1
    if scan.guard and scan.guard != "#pragma once":
        for macro in scan.defines:
            if macro.name == scan.guard:
                return macro.end_line + 1 if macro.end_line else macro.line + 1
    return 1
