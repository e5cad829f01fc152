"""The HTML report: escaping, data, and a real headless Chromium clicking a failing cell.

The browser is driven over the DevTools protocol through a pipe (``--remote-debugging-pipe``:
NUL-terminated JSON on file descriptors 3 and 4), so no websocket library and no
browser download is needed: Debian's chromium is enough.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hdrtest.check import check
from hdrtest.compile import CompileOptions, compile_job
from hdrtest.models import CheckReport, Note, OptionSetting, Variant, not_verified
from hdrtest.report import html as html_report
from hdrtest.report.context import ReportContext
from hdrtest.settings import Settings

FOO_OFF = Variant(name="CONFIG_FOO=n", changes=(OptionSetting("CONFIG_FOO", "n"),), defines=(("CONFIG_FOO", None),),
                  reason="CONFIG_FOO guards struct foo, used by inc/guarded.h", config_lines=("# CONFIG_FOO is not set",))

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"), shutil.which("google-chrome"))
                 if p), None)


def _tree(root: Path) -> None:
    (root / "inc").mkdir(parents=True)
    (root / "inc" / "good.h").write_text("#pragma once\nstruct good { int x; };\n")
    (root / "inc" / "bad.h").write_text("#pragma once\nstruct inner;\nstruct outer { struct inner member; };\n")
    # A path and a message that would break naive HTML.
    (root / "inc" / "evil<script>.h").write_text(
        "#pragma once\nstruct s { struct x_</script><b>bold</b> y; };\n")
    (root / "inc" / "guarded.h").write_text(
        "#pragma once\n#ifdef CONFIG_FOO\nstruct foo { int x; };\n#endif\nstruct user { struct foo f; };\n")


def _report(root: Path) -> CheckReport:
    """Baseline results from a real check, plus a CONFIG_FOO=n column compiled for real."""
    _tree(root)
    settings = Settings(root=root, cflags=("-std=c11", "-DCONFIG_FOO=1"), jobs=2, no_cache=True, variants="none")
    report = check(settings, [str(root / "inc")])
    by_header = {r.job.display: r for r in report.results}
    options = CompileOptions(root=root)
    extra = [compile_job(replace(by_header[h].job, variant=FOO_OFF), options) for h in ("inc/guarded.h", "inc/good.h")]
    extra.append(not_verified(replace(by_header["inc/bad.h"].job, variant=FOO_OFF), "flags borrowed"))
    # A compiler that is slow for sure: a tiny timeout on a real compile races the scheduler on a loaded machine
    # (the compile can end before the deadline is looked at, and then it is a plain failure).
    slow_cc = root.parent / "slowcc"
    slow_cc.write_text('#!/bin/sh\ncase "$*" in *evil*) sleep 30;; esac\nexec gcc "$@"\n')
    slow_cc.chmod(0o755)
    extra.append(compile_job(replace(by_header["inc/evil<script>.h"].job, variant=FOO_OFF, compiler=str(slow_cc),
                                     timeout=0.5), options))
    report = CheckReport(root=root, results=report.results + extra, skipped=report.skipped, elapsed=report.elapsed)
    for result in report.failures:
        for diag in result.diagnostics:
            if diag.is_error and "member" in diag.message:
                diag.category = "incomplete-type"
                diag.notes.append(Note("'struct inner' is only declared here, never defined", file="inc/bad.h",
                                       line=2, kind="definition",
                                       fix_diff="--- a/inc/bad.h\n+++ b/inc/bad.h\n@@ -2 +2 @@\n"
                                                "-struct inner;\n+struct inner { int v; };\n"))
    return report


def test_page_is_self_contained_and_escaped(tmp_path: Path) -> None:
    report = _report(tmp_path / "tree")
    assert [(r.job.display, r.job.variant.name, r.status.value) for r in report.results] == [
        ("inc/bad.h", "baseline", "fail"), ("inc/evil<script>.h", "baseline", "fail"),
        ("inc/good.h", "baseline", "pass"), ("inc/guarded.h", "baseline", "pass"),
        ("inc/guarded.h", "CONFIG_FOO=n", "fail"), ("inc/good.h", "CONFIG_FOO=n", "pass"),
        ("inc/bad.h", "CONFIG_FOO=n", "unverified"), ("inc/evil<script>.h", "CONFIG_FOO=n", "timeout")]
    page = html_report.render(ReportContext(report))
    # Nothing is loaded from anywhere: no external URLs in src/href, a CSP that forbids fetching.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    assert "default-src 'none'" in page
    # Exactly the two script elements we wrote: the data block cannot close itself early.
    assert page.count("</script>") == 2
    assert "<b>bold</b>" not in page and "evil<script>" not in page
    data_text = page.split('<script type="application/json" id="hdrtest-data">', 1)[1].split("</script>", 1)[0]
    data = json.loads(data_text)
    assert [row["header"] for row in data["rows"]] == ["inc/bad.h", "inc/evil<script>.h", "inc/good.h",
                                                       "inc/guarded.h"]
    assert [v["name"] for v in data["variants"]] == ["baseline", "CONFIG_FOO=n"]
    assert data["summary"]["cells"] == {"pass": 3, "fail": 3, "timeout": 1, "error": 0,
                                        "unverified": 1}
    bad = data["cells"][data["rows"][0]["cells"]["baseline"]]
    assert "has incomplete type" in bad["diagnostics"]
    mine = [n for n in bad["notes"] if n["message"] == "'struct inner' is only declared here, never defined"]
    assert mine and mine[0]["fix"].startswith("--- a/inc/bad.h") and mine[0]["place"] == "inc/bad.h:2"
    assert "-fsyntax-only" in bad["reproduce"]
    good = data["cells"][data["rows"][2]["cells"]["baseline"]]
    assert good["status"] == "pass" and "diagnostics" not in good
    guarded = data["cells"][data["rows"][3]["cells"]["CONFIG_FOO=n"]]
    assert guarded["status"] == "fail" and "#undef CONFIG_FOO" in guarded["reproduce"]
    assert "# CONFIG_FOO is not set" in guarded["reproduce"] and guarded["reason"].startswith("CONFIG_FOO guards")


class DevTools:
    """A minimal DevTools protocol client over Chromium's debugging pipe."""

    def __init__(self, chromium: str, profile: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire() -> None:  # in the child: the pipe ends must sit on fds 3 and 4
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        args = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
                "--disable-default-apps", "--mute-audio", f"--user-data-dir={profile}",
                "--remote-debugging-pipe", "about:blank"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, pass_fds=(3, 4), preexec_fn=wire)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._next = 0
        self._buffer = b""
        self.session: str | None = None

    def send(self, method: str, params: dict[str, Any] | None = None, *, timeout: float = 30.0) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if self.session is not None and not method.startswith("Target."):
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" not in self._buffer:
                if time.monotonic() > deadline:
                    raise TimeoutError(method)
                chunk = os.read(self._from_browser, 1 << 16)
                if not chunk:
                    raise RuntimeError("chromium closed the debugging pipe")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result

    def open(self, url: str) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": 1500, "height": 900, "deviceScaleFactor": 1, "mobile": False})
        self.send("Page.navigate", {"url": url})

    def evaluate(self, expression: str) -> Any:
        reply = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in reply:
            raise RuntimeError(f"page script failed: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        raise TimeoutError(expression)

    def click(self, selector: str) -> None:
        """A real mouse click at the element's centre, as a person would do it."""
        box = self.evaluate(f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
                            ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent",
                      {"type": kind, "x": box[0], "y": box[1], "button": "left", "clickCount": 1})

    def screenshot(self, path: Path) -> None:
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.session = None
            self.send("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


def _artifacts(tmp_path: Path) -> Path:
    directory = Path(os.environ.get("HDRTEST_ARTIFACTS") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_clicking_a_failing_cell_shows_its_diagnostics(tmp_path: Path) -> None:
    assert CHROMIUM is not None
    report = _report(tmp_path / "tree")
    page = tmp_path / "report.html"
    page.write_text(html_report.render(ReportContext(report)), encoding="utf-8")
    browser = DevTools(CHROMIUM, tmp_path / "profile")
    try:
        browser.open(page.as_uri())
        browser.wait_for("document.body && document.body.dataset.ready === 'true'")
        assert browser.evaluate("document.querySelectorAll('#matrix tbody tr').length") == 4
        assert browser.evaluate("document.getElementById('details').hidden") is True
        summary = browser.evaluate("document.getElementById('summary').textContent")
        assert "4headers checked" in summary and "3headers failed" in summary and "1timeout" in summary
        # Cells are coloured by status: a class per status, and the colours differ.
        colours = browser.evaluate(
            "Object.fromEntries(['pass', 'fail', 'timeout', 'unverified'].map(s => [s,"
            " getComputedStyle(document.querySelector('#matrix td.s-' + s)).backgroundColor]))")
        assert len(set(colours.values())) == 4, colours
        # The hostile file name is shown as text, not turned into markup.
        assert browser.evaluate("document.querySelectorAll('#matrix b').length") == 0
        assert "evil<script>.h" in browser.evaluate("document.querySelector('#matrix tbody').textContent")

        # Filtering by text, then by status.
        browser.evaluate("const f = document.getElementById('filter'); f.value = 'good';"
                         "f.dispatchEvent(new Event('input'))")
        assert browser.evaluate("document.querySelectorAll('#matrix tbody tr').length") == 1
        browser.evaluate("const g = document.getElementById('filter'); g.value = '';"
                         "g.dispatchEvent(new Event('input'));"
                         "const s = document.getElementById('status-filter'); s.value = 'failing';"
                         "s.dispatchEvent(new Event('change'))")
        headers = "Array.from(document.querySelectorAll('#matrix tbody td.header')).map(td => td.textContent)"
        assert browser.evaluate(headers) == ["inc/bad.h", "inc/evil<script>.h", "inc/guarded.h"]
        # Sorting: clicking the header column once more reverses the order ...
        browser.click("#matrix thead th[data-key='header']")
        assert browser.evaluate(headers) == ["inc/guarded.h", "inc/evil<script>.h", "inc/bad.h"]
        # ... and the variant's column sorts by status, the worst first.
        browser.click("#matrix thead th[data-key='v:CONFIG_FOO=n']")
        assert browser.evaluate(headers) == ["inc/evil<script>.h", "inc/guarded.h", "inc/bad.h"]
        browser.click("#matrix thead th[data-key='header']")

        # The variant's failing cell: its reason and reproducer.
        browser.click("#matrix tbody tr:nth-child(3) td.cell.s-fail")
        browser.wait_for("!document.getElementById('details').hidden")
        variant_text = browser.evaluate("document.getElementById('details').innerText")
        assert "inc/guarded.h [c]" in variant_text and "CONFIG_FOO=n" in variant_text
        assert "variant chosen because CONFIG_FOO guards struct foo" in variant_text
        assert "#undef CONFIG_FOO" in variant_text and "has incomplete type" in variant_text

        # The click a person makes: on bad.h's failing cell.
        browser.click("#matrix tbody tr:first-child td.cell.s-fail")
        browser.wait_for("!document.getElementById('details').hidden")
        shown = browser.evaluate("(() => { const d = document.getElementById('details');"
                                 " const r = d.getBoundingClientRect();"
                                 " return [d.innerText, r.width > 0 && r.height > 0]; })()")
        text, visible = shown
        assert visible
        assert "inc/bad.h:3:" in text and "has incomplete type" in text
        assert "'struct inner' is only declared here, never defined" in text
        assert "+struct inner { int v; };" in text
        assert "-fsyntax-only" in text and "Reproduce" in text
        browser.screenshot(_artifacts(tmp_path) / "html-report-failing-cell.png")
    finally:
        browser.close()
    shot = _artifacts(tmp_path) / "html-report-failing-cell.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 5000
