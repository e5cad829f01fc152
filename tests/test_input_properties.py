"""Property-based: random compile databases, settings files, compiler JSON and directive text never crash a parser.

A parser may accept its input or refuse it with ``HdrtestError`` (exit 2; ``ScanError`` for directive text,
which its callers turn into a skipped scan); any other exception would be an exit 3.  The default example
count keeps the suite fast; ``HDRTEST_HYPOTHESIS_EXAMPLES=10000`` runs the full property.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from hdrtest import compdb, diagnostics  # noqa: E402
from hdrtest.errors import HdrtestError  # noqa: E402
from hdrtest.scan.directives import ScanError, scan_directives  # noqa: E402
from hdrtest.settings import load_settings  # noqa: E402

EXAMPLES = int(os.environ.get("HDRTEST_HYPOTHESIS_EXAMPLES", "300"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, derandomize=False, database=None,
                    suppress_health_check=list(HealthCheck))

#: One directory that exists for every example, so databases get past the directory check sometimes.
_BASE = Path(tempfile.mkdtemp(prefix="hdrtest-prop-"))
(_BASE / "sub").mkdir(exist_ok=True)

_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
_scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                     st.floats(allow_nan=True, allow_infinity=True), _text)
_json = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(_text, inner, max_size=4)), max_leaves=20)
_flag = st.one_of(st.sampled_from(["-c", "-o", "out.o", "-MD", "-MF", "x.d", "-Iinc", "-DX=1", "-x", "c", "@rsp",
                                   "-fdump-tree-all", "-aux-info", "-include", "a.h", "--", "a.c", "'", '"', "\\",
                                   "ccache", "gcc", "-std=c11", "\0", "\n"]), _text)


@st.composite
def _entry(draw: st.DrawFn) -> object:
    if draw(st.integers(0, 9)) == 0:
        return draw(_json)
    entry: dict[str, object] = {}
    if draw(st.booleans()) or True:
        entry["directory"] = draw(st.one_of(st.sampled_from([str(_BASE), "sub", ".", str(_BASE / "gone")]), _text,
                                            _json))
    if draw(st.integers(0, 5)):
        entry["file"] = draw(st.one_of(st.sampled_from(["a.c", "sub/b.cpp", "x.S"]), _text, _json))
    shape = draw(st.integers(0, 3))
    if shape in (0, 2):
        entry["arguments"] = draw(st.one_of(st.lists(_flag, max_size=8), _json))
    if shape in (1, 2):
        entry["command"] = draw(st.one_of(st.lists(_flag, max_size=8).map(" ".join), _text, _json))
    return entry


_database = st.one_of(st.lists(_entry(), max_size=5), _json)


def _database_text(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.binary(max_size=200))
    if kind == 1:
        depth = draw(st.integers(1, 50_000))
        return ("[" * depth + "]" * draw(st.integers(0, depth))).encode()
    text = json.dumps(draw(_database))
    if kind == 2 and text:
        cut = draw(st.integers(0, len(text)))
        text = text[:cut]
    return text.encode("utf-8", "surrogatepass")


@given(st.data())
@PROPERTY
def test_random_compile_databases(data: st.DataObject) -> None:
    raw = data.draw(st.composite(lambda draw: _database_text(draw))())
    path = _BASE / "compile_commands.json"
    path.write_bytes(raw)
    try:
        entries = compdb.load(path)
    except HdrtestError:
        return
    for entry in entries:
        assert entry.directory.is_dir() and isinstance(entry.compiler, str)
        assert all(isinstance(f, str) for f in entry.flags)


_KEYS = ["paths", "exclude", "lang", "compile-commands", "cflags", "cc", "cxx", "prelude", "preludes",
         "max-errors", "jobs", "timeout", "check-guard", "mode", "option-pattern", "options", "variants", "seed",
         "kconfig", "kconfig-config", "cache-dir", "no-cache", "changed-since", "executor", "scheduler",
         "c-patterns", "cxx-patterns", "root", "tool", "bogus"]
_toml_scalar = st.one_of(st.booleans(), st.integers(min_value=-2**63, max_value=2**63 - 1),
                         st.floats(allow_nan=True, allow_infinity=True), _text)
_toml_value = st.recursive(_toml_scalar, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                                  st.dictionaries(_text, inner, max_size=3)),
                           max_leaves=8)


def _toml_string(text: str) -> str:
    return json.dumps(text)  # a JSON string of printable characters is a TOML basic string


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if value != value else ("inf" if value > 0 else "-inf") if value in (float("inf"), float("-inf")) \
            else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{_toml_string(k)} = {_toml(v)}" for k, v in value.items()) + "}"


@st.composite
def _settings_text(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.binary(max_size=200))
    if kind == 1:
        return draw(st.text(max_size=200)).encode("utf-8", "surrogatepass")
    table = draw(st.dictionaries(st.one_of(st.sampled_from(_KEYS), _text), _toml_value, max_size=5))
    body = "".join(f"{_toml_string(k)} = {_toml(v)}\n" for k, v in table.items())
    return (("[tool.hdrtest]\n" if kind == 2 else "") + body).encode("utf-8", "surrogatepass")


@given(_settings_text(), st.sampled_from(["hdrtest.toml", "pyproject.toml"]))
@PROPERTY
def test_random_settings_files(raw: bytes, name: str) -> None:
    root = Path(tempfile.mkdtemp(dir=_BASE))
    (root / name).write_bytes(raw)
    try:
        load_settings([], {}, cwd=root)
    except HdrtestError:
        pass


_diag_key = st.sampled_from(["kind", "message", "option", "locations", "caret", "file", "line", "column",
                             "children", "option_url", "escape-source"])
_diag_json = st.recursive(st.one_of(_scalars, st.sampled_from(["error", "warning", "note", "fatal error"])),
                          lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                  st.dictionaries(st.one_of(_diag_key, _text), inner, max_size=6)),
                          max_leaves=30)


@st.composite
def _compiler_output(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return draw(st.text(max_size=300))
    if kind == 1:
        depth = draw(st.integers(1, 50_000))
        return "[" * depth + "]" * depth
    items = draw(st.lists(_diag_json, max_size=4))
    return "\n".join(draw(st.sampled_from(["", "cc1: note: x"])) for _ in range(draw(st.integers(0, 2)))) + \
        "\n" + json.dumps(items)


@given(_compiler_output())
@PROPERTY
def test_random_compiler_json(text: str) -> None:
    records = diagnostics.parse_gcc_json(text, diagnostics.make_mapper(_BASE, _BASE))
    if records is None:
        return
    for record in records:
        assert isinstance(record.line, int) and isinstance(record.column, int)
        assert isinstance(record.message, str) and isinstance(record.severity, str)
        assert record.option is None or isinstance(record.option, str)


_directive_lines = st.sampled_from([
    "#if X\n", "#ifdef CONFIG_A\n", "#ifndef G_H\n", "#define G_H\n", "#elif defined(B) && !C\n", "#else\n",
    "#endif\n", "#include <a.h>\n", '#include "b.h"\n', "#include MACRO\n", "#define F(x) (x)\n", "#undef X\n",
    "#if (((((A)))))\n", "#if A ||\n", "#if defined\n", "/* c\n", "*/\n", "// x \\\n", "\\\n", "#  if 1 /* x */\n",
    "int x;\n", '"#endif"\n', "#error e\n", "#if __has_include(<x.h>)\n", "#if 0x1'0 > 2\n", "??=if 1\n",
])


@st.composite
def _directive_text(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return draw(st.text(max_size=300))
    if kind == 1:
        depth = draw(st.integers(1, 3000))
        return "#if " + "(" * depth + "A" + ")" * draw(st.integers(0, depth)) + "\n#endif\n"
    if kind == 2:
        depth = draw(st.integers(1, 3000))
        return "#if A\n" * depth + "#endif\n" * draw(st.integers(0, depth))
    return "".join(draw(st.lists(st.one_of(_directive_lines, st.text(max_size=10)), max_size=30)))


@given(_directive_text(), st.booleans())
@PROPERTY
def test_random_directive_text(text: str, strict: bool) -> None:
    try:
        scan_directives(text, "fuzz.h", strict=strict)
    except ScanError:
        pass
