"""Every notebook executes top to bottom (nbclient, a per-cell timeout) within its time
budget, and its HTML report is self-contained: one inlined Vega bundle, no URL that
loads anything, under 10 MiB. The notebooks in git are exactly what ``notebooks/build.py``
writes, with no outputs.

The reports are built once per test session by :func:`built_reports`, which
``test_browser.py`` opens in Chromium.
"""

from __future__ import annotations

import atexit
import functools
import html.parser
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import ClassVar

import nbformat
import pytest

import mmkit
from mmkit.report import MAX_BYTES, Report, build

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
NAMES = ["01-quickstart", "02-the-review", "03-why-the-series", "04-your-machine", "05-sweeps",
         "06-your-workload"]
# seconds a notebook may take, warm numba cache, 2 cores (the budget)
BUDGET = float(os.environ.get("MMKIT_NOTEBOOK_SECONDS", "120"))
CELL_TIMEOUT = 600


def warm_numba_cache() -> None:
    """Compile (or load) the engine in this process first, so that a cold cache is paid
    here and not inside a notebook's time budget: the kernels share the on-disk cache."""
    mmkit.compare(workload="review-04", variants=list(mmkit.NAMED), gib=0.25, ticks=30, seed=1)
    mem = mmkit.Memory.from_snapshot(ROOT / "data" / "fragmented")
    mmkit.compact_memory(mem)


@functools.lru_cache(maxsize=1)
def built_reports() -> dict[str, Report]:
    """Every notebook executed and written as HTML to a temporary folder, once."""
    warm_numba_cache()
    out = Path(tempfile.mkdtemp(prefix="mmkit-reports-"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    reports = build(NAMES, out, timeout=CELL_TIMEOUT, log=lambda msg: print(msg, file=sys.stderr))
    return {r.notebook.stem: r for r in reports}


@pytest.fixture(scope="module")
def reports():
    return built_reports()


def test_notebooks_are_what_build_py_writes():
    for script in ("build.py", "build_05.py", "build_06.py"):
        r = subprocess.run([sys.executable, str(NOTEBOOKS / script), "--check"], capture_output=True, text=True,
                           check=False)
        assert r.returncode == 0, (script, r.stderr)
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_stripped_and_opens_with_what_it_shows(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    assert nb.cells[1].cell_type == "code", "one markdown cell, then the code"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.slow  # the slow tier: every notebook executed
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_within_budget(reports, name):
    r = reports[name]
    print(f"{name}: {r.seconds:.1f} s, {r.bytes / 2**20:.2f} MiB, {r.charts} charts")
    assert r.seconds < BUDGET, f"{name} took {r.seconds:.0f} s (budget {BUDGET:.0f} s, warm numba cache)"


class _Links(html.parser.HTMLParser):
    """Every attribute that makes a browser fetch something."""

    FETCHING: ClassVar[dict[str, str]] = {"script": "src", "link": "href", "img": "src", "iframe": "src", "source": "src",
                "video": "src", "audio": "src", "embed": "src", "object": "data"}

    def __init__(self) -> None:
        super().__init__()
        self.fetches: list[str] = []
        self.specs = 0
        self.toggle = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        want = self.FETCHING.get(tag)
        if want and a.get(want) and not a[want].startswith("data:"):
            self.fetches.append(f"<{tag} {want}={a[want]!r}>")
        if tag == "script" and "vega-spec" in (a.get("class") or ""):
            self.specs += 1
        if tag == "input" and a.get("id") == "show-code":
            self.toggle = True


@pytest.mark.slow  # the slow tier: every notebook executed
@pytest.mark.parametrize("name", NAMES)
def test_report_is_self_contained(reports, name):
    r = reports[name]
    text = r.html.read_text(encoding="utf-8")
    assert r.bytes == len(text.encode("utf-8")) < MAX_BYTES
    p = _Links()
    p.feed(text)
    assert p.fetches == []
    assert p.toggle
    assert p.specs == r.charts > 0
    assert text.count("window.vegaEmbed=") == 1  # the bundle, once
    assert "cdn.jsdelivr" not in text and "unpkg.com" not in text
    assert not list(r.html.parent.glob(".*.tmp"))


@pytest.mark.slow  # the slow tier: every notebook executed
def test_review_report_tells_the_three_points(reports):
    text = reports["02-the-review"].html.read_text(encoding="utf-8")
    for heading in ("Point 1", "Point 2", "Point 3", "What the merged series and today"):
        assert heading in text
    assert "5703A979.402@suse.cz" in text


@pytest.mark.slow  # the slow tier: every notebook executed
def test_quickstart_report_notes_the_explorer(reports):
    assert reports["01-quickstart"].widgets >= 1
    assert "interactive widget" in reports["01-quickstart"].html.read_text(encoding="utf-8")
