"""Each notebook's HTML report, opened from a file in headless Chromium with no network:
every chart drawn (marks inside each vega-embed container), no console error, no request
that leaves the file.

Chromium is driven through the DevTools protocol over a pipe (``--remote-debugging-pipe``:
JSON messages ending in NUL on file descriptors 3 and 4), so the test needs nothing beyond
the standard library and Debian's ``chromium`` package (``.ci/run`` installs it). The
reports come from ``test_notebooks.built_reports`` (built once per test session).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser")) if p), None)
pytestmark = [
    pytest.mark.slow,  # the slow tier: a real browser
    pytest.mark.skipif(CHROMIUM is None,
                       reason="chromium is not installed (Debian: apt-get install -y chromium; .ci/run does it)"),
]

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
    "--disable-extensions", "--mute-audio", "--hide-scrollbars",
    # no network: every host resolves to nothing, and any proxy is a closed port
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost", "--proxy-server=127.0.0.1:9",
    "--window-size=1280,900",
]

# What the page says about its charts once vega-embed has finished with each of them.
CHARTS_JS = """
JSON.stringify(Array.from(document.querySelectorAll(".vega-chart")).map(function (el) {
  var svg = el.querySelector("svg"), canvas = el.querySelector("canvas");
  var marks = svg ? svg.querySelectorAll("g[class*='mark-'] path, g[class*='mark-'] line,"
      + " g[class*='mark-'] rect, g[class*='mark-'] text, g[class*='mark-'] circle").length : 0;
  var box = el.getBoundingClientRect();
  return {id: el.id, rendered: el.getAttribute("data-rendered"), embed: el.classList.contains("vega-embed"),
          svg: !!svg, canvas: !!canvas, marks: marks, width: box.width, height: box.height};
}))
"""


class Chromium:
    """A headless Chromium and one page, spoken to over the DevTools pipe."""

    def __init__(self) -> None:
        self.profile = tempfile.mkdtemp(prefix="mmkit-chromium-")
        r, self._to_chrome = os.pipe()
        self._from_chrome, w = os.pipe()
        # The pipe protocol reads fd 3 and writes fd 4; bash puts the child's ends there,
        # from copies numbered 10 and up so that neither is 3 or 4 already (dash cannot
        # redirect from a descriptor above 9).
        child_r, child_w = fcntl.fcntl(r, fcntl.F_DUPFD, 10), fcntl.fcntl(w, fcntl.F_DUPFD, 10)
        os.close(r)
        os.close(w)
        redirect = f'exec "$0" "$@" 3<&{child_r} 4>&{child_w} {child_r}<&- {child_w}>&-'
        self.proc = subprocess.Popen(
            [shutil.which("bash") or "/bin/bash", "-c", redirect, CHROMIUM, *FLAGS, "--remote-debugging-pipe",
             f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            pass_fds=(child_r, child_w))
        os.close(child_r)
        os.close(child_w)
        self._id = 0
        self._replies: dict[int, dict] = {}
        self._cond = threading.Condition()
        self.events: queue.Queue = queue.Queue()
        self._stderr: list[bytes] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self._stderr.extend(self.proc.stderr), daemon=True).start()
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=True)

    def _read(self) -> None:
        buf = b""
        with os.fdopen(self._from_chrome, "rb", buffering=0) as f:
            while chunk := f.read(65536):
                buf += chunk
                *messages, buf = buf.split(b"\0")
                for raw in messages:
                    msg = json.loads(raw)
                    if "id" in msg:
                        with self._cond:
                            self._replies[msg["id"]] = msg
                            self._cond.notify_all()
                    else:
                        self.events.put(msg)

    def call(self, method: str, *, session: bool = False, timeout: float = 30, **params) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._id not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise RuntimeError(f"chromium did not answer {method}; stderr: "
                                       f"{b''.join(self._stderr)[-2000:].decode(errors='replace')}")
                self._cond.wait(left)
            reply = self._replies.pop(self._id)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def evaluate(self, expression: str):
        r = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"page script failed: {r['exceptionDetails']}")
        return r["result"].get("value")

    def drain(self) -> list[dict]:
        out = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, OSError):
            self.call("Browser.close", timeout=5)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_chrome)
        shutil.rmtree(self.profile, ignore_errors=True)


def open_report(browser: Chromium, path: Path, timeout: float = 60) -> dict:
    """Load ``path`` and wait until every chart has been drawn or has failed; returns the
    charts, console errors and off-file requests."""
    browser.drain()
    browser.call("Page.navigate", session=True, url=path.resolve().as_uri())
    deadline = time.monotonic() + timeout
    charts = []
    while time.monotonic() < deadline:
        state = browser.evaluate("document.readyState")
        charts = json.loads(browser.evaluate(CHARTS_JS))
        if state == "complete" and all(c["rendered"] for c in charts):
            break
        time.sleep(0.25)
    time.sleep(0.5)  # let late console messages arrive
    errors, requests = [], []
    for ev in browser.drain():
        m, p = ev.get("method"), ev.get("params", {})
        if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
        elif m == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            errors.append(d.get("exception", {}).get("description") or d.get("text", "exception"))
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            errors.append(p["entry"].get("text", ""))
        elif m == "Network.requestWillBeSent":
            url = p.get("request", {}).get("url", "")
            if not url.startswith(("file:", "data:", "blob:", "about:")):
                requests.append(url)
    return {"charts": charts, "errors": errors, "requests": requests}


@pytest.fixture(scope="module")
def browser():
    b = Chromium()
    yield b
    b.close()


@pytest.fixture(scope="module")
def reports():
    from test_notebooks import built_reports

    return built_reports()


NOTEBOOKS = ["01-quickstart", "02-the-review", "03-why-the-series", "04-your-machine", "06-your-workload"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_report_renders_offline(browser, reports, name):
    page = open_report(browser, reports[name].html)
    charts = page["charts"]
    assert charts, f"{name}: the report has no chart"
    assert len(charts) == reports[name].charts
    bad = [c for c in charts if not (c["rendered"] == "ok" and c["embed"] and (c["svg"] or c["canvas"])
                                     and c["marks"] > 0 and c["width"] > 0 and c["height"] > 0)]
    assert not bad, f"{name}: charts not drawn: {bad}"
    assert not page["errors"], f"{name}: console errors: {page['errors']}"
    assert not page["requests"], f"{name}: requests left the file: {page['requests']}"


def test_a_broken_chart_is_seen(browser, tmp_path):
    """The checks above can fail: a spec Vega-Lite cannot compile leaves its container
    marked ``error``, with an error in the console."""
    import nbformat

    from mmkit.report.html import render

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("chart")
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        "application/vnd.vegalite.v6+json": {"$schema": "https://vega.github.io/schema/vega-lite/v6.4.1.json",
                                             "data": {"values": [{"a": 1}]}, "mark": "no-such-mark"}})]
    nb.cells = [cell]
    path = tmp_path / "broken.html"
    path.write_text(render(nb, title="broken").html)
    page = open_report(browser, path, timeout=20)
    assert [c["rendered"] for c in page["charts"]] == ["error"]
    assert any("no-such-mark" in e or "vega-chart-1" in e for e in page["errors"]), page["errors"]


# Each chart against the column it is in, at a given window width: the chart's box and
# its SVG's, the column's, any text Vega shortened (an ellipsis), and raw numbers in tables.
LAYOUT_JS = """
JSON.stringify({
  page: [document.documentElement.scrollWidth, document.documentElement.clientWidth],
  charts: Array.from(document.querySelectorAll(".vega-chart")).map(function (el) {
    var col = el.closest("main") || document.body, svg = el.querySelector("svg");
    var right = Math.max(el.getBoundingClientRect().right, svg ? svg.getBoundingClientRect().right : 0);
    var box = col.getBoundingClientRect(), pad = parseFloat(getComputedStyle(col).paddingRight);
    var scroller = el.closest(".chart") || el.parentElement;
    return {id: el.id, right: right, column_right: box.right - pad, width: el.scrollWidth,
            scrolls: scroller.scrollWidth > scroller.clientWidth,
            cut: svg ? Array.from(svg.querySelectorAll("text")).map(function (t) { return t.textContent; })
                          .filter(function (t) { return t.indexOf("\\u2026") >= 0; }) : []};
  }),
  cells: Array.from(document.querySelectorAll("td")).map(function (td) { return td.textContent.trim(); })
})
"""


@pytest.mark.parametrize(("name", "width"), [(n, 1100) for n in NOTEBOOKS] + [("02-the-review", 1400),
                                                                              ("02-the-review", 1920)])
def test_report_fits_its_column(browser, reports, name, width):
    """In a 1100 px window (and the flagship report in 1400 and 1920 px ones) no chart is
    wider than the report's column or scrolls sideways, the page has no horizontal
    scrollbar, no chart text is shortened, and no table cell prints a raw float."""
    browser.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=900, deviceScaleFactor=1,
                 mobile=False)
    try:
        page = open_report(browser, reports[name].html)
        assert all(c["rendered"] == "ok" for c in page["charts"])
        layout = json.loads(browser.evaluate(LAYOUT_JS))
    finally:
        browser.call("Emulation.clearDeviceMetricsOverride", session=True)
    scroll_width, client_width = layout["page"]
    assert scroll_width <= client_width, f"horizontal scrollbar at {width} px: {scroll_width} > {client_width}"
    wide = [c for c in layout["charts"] if c["right"] > c["column_right"] + 0.5 or c["scrolls"]]
    assert not wide, f"charts wider than the column at {width} px: {wide}"
    assert not [c for c in layout["charts"] if c["cut"]], layout["charts"]
    raw = [c for c in layout["cells"] if re.fullmatch(r"-?[\d,]*\.\d{4,}|-?\d+\.0", c)]
    assert not raw, f"{name}: table cells print raw floats: {raw[:10]}"
