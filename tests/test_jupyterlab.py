"""Every chart of every notebook draws in a real JupyterLab, with no network.

A JupyterLab server (127.0.0.1, a free port, a token, a temporary copy of ``notebooks/``
and ``data/``, its own settings and workspaces) is started by a fixture and driven in
Debian's Chromium through Playwright (from PyPI, launched with that executable; nothing
is downloaded). Requests that leave the server are refused and counted. For each
notebook: Run All Cells, then every chart output has drawn marks in SVG (no error, no
``Error loading script``), no cell raised, and the notebook saved by JupyterLab holds
every chart as a Vega-Lite spec. The Explorer (notebook 01) runs again with another seed
and its charts change. Notebooks executed outside JupyterLab (nbclient, as ``jupyter
nbconvert --execute`` does) and reopened, untrusted and without running, draw theirs.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NAMES = ["01-quickstart", "02-the-review", "03-why-the-series", "04-your-machine", "05-sweeps",
         "06-your-workload"]
CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"))
                 if p and os.path.exists(p)), None)
try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - playwright is in the dev extra
    sync_playwright = None

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install -y chromium; "
                                                ".ci/run does it)"),
    pytest.mark.skipif(sync_playwright is None, reason="playwright is not installed (pip install -e '.[dev]')"),
]

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
         # no network: every host but this one resolves to nothing
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
CELL_SECONDS = 600  # a notebook's slowest cell, warm numba cache, on a busy 2-core machine
VEGA_MIME = ("application/vnd.vegalite.", "application/vnd.vega.")

# Each output of the notebook, in order: its mimetype, whether it is a chart (a Vega
# renderer's output, or HTML that embeds one), and what that chart drew.
OUTPUTS_JS = """
() => Array.from(document.querySelectorAll(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output"))
  .map(function (out) {
    var mime = out.getAttribute("data-mime-type") || "";
    // JupyterLab's own Vega renderer marks its outputs with this class
    var native = out.classList.contains("jp-RenderedVegaCommon5");
    var chart = native || !!out.querySelector(".vega-embed") || out.innerHTML.indexOf("vegaEmbed") >= 0;
    var svg = out.querySelector(".vega-embed svg, svg.marks");
    var marks = svg ? svg.querySelectorAll("g[class*='mark-'] path, g[class*='mark-'] line,"
        + " g[class*='mark-'] rect, g[class*='mark-'] circle, g[class*='mark-'] text").length : 0;
    var text = out.innerText || "";
    var error = /Error loading script|Javascript Error/.test(text.slice(0, 2000))
      || mime === "application/vnd.jupyter.stderr" && /Error|Traceback/.test(text);
    return {mime: mime, native: native, chart: chart, svg: !!svg, canvas: !!out.querySelector(".vega-embed canvas"),
            marks: marks, width: svg ? svg.getBoundingClientRect().width : 0, error: error,
            text: text.slice(0, 300), widget: !!out.querySelector(".jupyter-widgets") || !!out.parentElement.closest(".jupyter-widgets")};
  })
"""

REVEAL_JS = """
async () => {
  var cells = document.querySelectorAll(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell");
  for (var i = 0; i < cells.length; i++) {
    cells[i].scrollIntoView();
    await new Promise(function (r) { setTimeout(r, 150); });
  }
}
"""

PROMPTS_JS = """
() => Array.from(document.querySelectorAll(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputArea-prompt"))
  .map(function (p) { return p.textContent.trim(); })
"""


def pythonpath() -> str:
    """This checkout first, so kernels import the mmkit under test."""
    return os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A JupyterLab server on 127.0.0.1 serving a temporary folder."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="mmkit-lab-"))
        shutil.copytree(ROOT / "notebooks", self.root / "notebooks", ignore=shutil.ignore_patterns("*.py"))
        shutil.copytree(ROOT / "data", self.root / "data")
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        home = self.root / ".jupyter"
        env = {**os.environ, "PYTHONPATH": pythonpath(),
               "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_DATA_DIR": str(home / "data"),
               "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
               "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
               "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces")}
        self.log = open(self.root / "server.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
             f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
             "--ServerApp.allow_root=True", "--LabApp.news_url=None", "--LabApp.extension_manager=readonly",
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
            cwd=self.root, env=env, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = self.server_log()
                self.stop()
                raise RuntimeError(f"JupyterLab did not start; its log:\n{log}")
            time.sleep(0.5)

    def server_log(self) -> str:
        return (self.root / "server.log").read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def lab():
    from test_notebooks import warm_numba_cache

    warm_numba_cache()  # a cold cache compiles here, not inside a notebook's cell
    server = Lab()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


class Page:
    """One browser tab on the lab; requests that leave the server are refused and kept."""

    def __init__(self, browser, lab: Lab, workspace: str) -> None:
        self.lab = lab
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.outside: list[str] = []
        self.console: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.console.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.console.append(str(e)))
        self.workspace = workspace

    def _route(self, route) -> None:
        if route.request.url.startswith(self.lab.url):
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def open(self, path: str) -> None:
        p = self.page
        p.goto(f"{self.lab.url}/lab/workspaces/{self.workspace}/tree/{path}?reset&token={self.lab.token}")
        # the status bar says "Python 3 (ipykernel) | Idle" once the kernel is connected
        p.wait_for_function("""() => { var s = document.querySelector(".jp-StatusBar-Widget");
                                return !!s && /\\(ipykernel\\) \\| Idle/.test(s.innerText); }""", timeout=180_000)

    def run_all(self) -> None:
        p = self.page
        p.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        p.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        deadline = time.monotonic() + CELL_SECONDS * 4
        time.sleep(1)
        while time.monotonic() < deadline:
            prompts = p.evaluate(PROMPTS_JS)
            if prompts and all(x.startswith("[") and x[1:-2].strip().isdigit() for x in prompts):
                return
            if any(o["error"] for o in p.evaluate(OUTPUTS_JS)):
                return  # a cell failed: the notebook stops there, the checks say why
            time.sleep(1)
        raise AssertionError(f"cells still running after {CELL_SECONDS * 4} s: {p.evaluate(PROMPTS_JS)}")

    def outputs(self, timeout: float = 60) -> list[dict]:
        """The outputs, once every chart has drawn (or ``timeout`` seconds passed). The
        notebook is scrolled through first, as a reader would: JupyterLab 4 renders the
        cells out of view lazily (``windowingMode``, "contentVisibility" by default)."""
        deadline = time.monotonic() + timeout
        self.page.evaluate(REVEAL_JS)
        while True:
            outs = self.page.evaluate(OUTPUTS_JS)
            if all(o["marks"] for o in outs if o["chart"]) or time.monotonic() > deadline:
                return outs
            time.sleep(0.5)

    def save(self) -> float:
        """File > Save Notebook; returns the seconds until JupyterLab says it is saved."""
        p, t0 = self.page, time.monotonic()
        p.locator(".lm-MenuBar-itemLabel", has_text="File").first.click()
        p.locator(".lm-Menu-itemLabel", has_text="Save Notebook").first.click()
        p.wait_for_selector(".lm-TabBar-tab.jp-mod-current.jp-mod-dirty", state="detached", timeout=600_000)
        return time.monotonic() - t0

    def close(self) -> None:
        self.context.close()


def saved_charts(path: Path) -> tuple[int, list[str]]:
    """The chart outputs in a saved notebook (Vega mimetypes, or HTML that embeds one)
    and the errors among its outputs."""
    nb = nbformat.read(path, as_version=4)
    charts, errors = 0, []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                errors.append(f"{out.ename}: {out.evalue}")
            data = out.get("data", {})
            if any(k.startswith(VEGA_MIME) for k in data) or "vegaEmbed" in str(data.get("text/html", "")):
                charts += 1
    return charts, errors


def check_drawn(name: str, outs: list[dict], expected: int) -> list[dict]:
    charts = [o for o in outs if o["chart"] and not o["widget"]]
    assert len(charts) == expected, f"{name}: {len(charts)} chart outputs on the page, {expected} in the file"
    bad = [o for o in charts if not (o["svg"] and o["marks"] > 0 and o["width"] > 0)]
    assert not bad, f"{name}: charts not drawn: {bad}"
    errors = [o for o in outs if o["error"]]
    assert not errors, f"{name}: outputs show an error: {errors}"
    return charts


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_and_draws_every_chart(lab, browser, name):
    tab = Page(browser, lab, f"run-{name}")
    try:
        tab.open(f"notebooks/{name}.ipynb")
        tab.run_all()
        outs = tab.outputs()
        saved = lab.root / "notebooks" / f"{name}.ipynb"
        seconds = tab.save()
        expected, errors = saved_charts(saved)
        assert not errors, f"{name}: cells raised: {errors}"
        assert expected > 0, f"{name}: no chart output in the saved notebook"
        charts = check_drawn(name, outs, expected)
        print(f"{name}: {len(charts)} of {expected} chart outputs drew marks "
              f"({sum(c['marks'] for c in charts)} marks); saved by JupyterLab in {seconds:.0f} s: "
              f"{saved.stat().st_size / 1024:.0f} KiB")
        assert all(o["native"] for o in charts), \
            f"{name}: a chart drawn from HTML instead of JupyterLab's Vega renderer: {charts}"
        if name == "01-quickstart":
            explorer_runs_again(tab)
        assert not tab.outside, f"{name}: requests left the server: {tab.outside[:5]}"
        vega = [m for m in tab.console if "vega" in m.lower() or "spec" in m.lower()]
        assert not vega, f"{name}: console errors: {vega}"
    finally:
        tab.close()


EXPLORER_JS = """
(mark) => { var w = document.querySelector(".jp-NotebookPanel:not(.lm-mod-hidden) .widget-tab");
  var box = w.closest(".widget-hbox"), done = box.innerText.match(/simulated in[^\\n]*/);
  return {status: done ? done[0] : "",
          charts: Array.from(box.querySelectorAll(".mmkit-chart")).map(function (c) {
            var svg = c.querySelector("svg");
            var out = {marks: svg ? svg.querySelectorAll("g[class*='mark-'] path, g[class*='mark-'] rect,"
                + " g[class*='mark-'] line, g[class*='mark-'] text").length : 0,
                       svg: svg ? svg.outerHTML : "", old: !!svg && !!svg.mmkitSeen};
            if (svg && mark) { svg.mmkitSeen = true; }
            return out; })}; }
"""


def explorer_runs_again(tab: Page) -> None:
    """Seed 7 and Run: every chart of the Explorer is drawn anew, and differs."""
    p = tab.page
    before = p.evaluate(EXPLORER_JS, True)  # marks the SVGs drawn now
    assert len(before["charts"]) == 4 and all(c["marks"] for c in before["charts"]), \
        f"Explorer charts not drawn: {[c['marks'] for c in before['charts']]}"
    seed = p.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .widget-inline-hbox", has_text="seed").locator("input")
    seed.fill("7")
    seed.press("Enter")
    p.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jupyter-widgets button", has_text="Run").first.click()
    deadline = time.monotonic() + 120
    while True:
        after = p.evaluate(EXPLORER_JS, False)
        redrawn = len(after["charts"]) == 4 and all(c["marks"] and not c["old"] for c in after["charts"])
        if (after["status"] and after["status"] != before["status"] and redrawn) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert after["status"] != before["status"], f"the Explorer did not run again: {after['status']!r}"
    assert redrawn, f"Explorer charts not drawn anew: {[(c['marks'], c['old']) for c in after['charts']]}"
    changed = [a["svg"] != b["svg"] for a, b in zip(after["charts"], before["charts"])]
    assert all(changed), f"charts that did not change with the seed: {changed}"


def execute(path: Path) -> None:
    """Run ``path`` as ``jupyter nbconvert --execute`` does (nbclient, a fresh kernel in
    the notebook's folder) and write it back."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=CELL_SECONDS, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(nb, path)


@pytest.mark.parametrize("name", ["03-why-the-series", "04-your-machine"])
def test_an_executed_notebook_reopened_draws_its_charts(lab, browser, name, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", pythonpath())
    path = lab.root / "notebooks" / f"executed-{name}.ipynb"
    shutil.copy(ROOT / "notebooks" / f"{name}.ipynb", path)
    execute(path)
    expected, errors = saved_charts(path)
    assert expected > 0 and not errors, (expected, errors)
    print(f"executed {name}: {path.stat().st_size / 1024:.0f} KiB on disk, {expected} charts")
    tab = Page(browser, lab, f"reopen-{name}")
    try:
        tab.open(f"notebooks/{path.name}")
        charts = check_drawn(name, tab.outputs(), expected)
        assert all(c["native"] for c in charts), f"{name}: a chart drawn from HTML: {charts}"
        assert not tab.outside, f"requests left the server: {tab.outside[:5]}"
    finally:
        tab.close()
