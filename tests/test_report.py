"""``mmkit report``: finding notebooks, the HTML writer, atomic writes, errors, Ctrl-C.
Fast: the notebooks executed here are a few cells in ``tmp_path``."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from mmkit import cli
from mmkit.errors import ParameterError
from mmkit.report import ReportError, available, build, resolve, write_atomic
from mmkit.viz import vega
from mmkit.report.html import render

pytestmark = pytest.mark.slow  # the slow tier: notebooks executed in kernels

ROOT = Path(__file__).resolve().parent.parent
SCHEMA6 = "https://vega.github.io/schema/vega-lite/v6.4.1.json"


def spec(**extra):
    return {"$schema": SCHEMA6, "data": {"values": [{"a": 1, "b": 2}]}, "mark": "point",
            "encoding": {"x": {"field": "a", "type": "quantitative"}}, **extra}


def notebook(*cells) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(c[3:]) if c.startswith("md:") else nbformat.v4.new_code_cell(c)
                for c in cells]
    return nb


def write_nb(folder: Path, name: str, *cells) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / f"{name}.ipynb"
    nbformat.write(notebook(*cells), p)
    return p


# ------------------------------------------------------------------ names
def test_resolve_by_name_number_short_name_and_path(tmp_path):
    a = write_nb(tmp_path, "01-first", "1")
    b = write_nb(tmp_path, "02-the-second", "2")
    assert available(tmp_path) == [a, b]
    assert resolve(None, tmp_path) == [a.resolve(), b.resolve()]
    assert resolve(["02-the-second", "2", "02", "the-second", str(a)], tmp_path) == [b.resolve()] * 4 + [a.resolve()]


def test_unknown_notebook_lists_the_known_ones(tmp_path):
    write_nb(tmp_path, "01-first", "1")
    with pytest.raises(ParameterError, match=r"unknown notebook 'nope'; notebooks are 01-first"):
        resolve(["nope"], tmp_path)
    with pytest.raises(ParameterError, match="is not a file"):
        resolve([str(tmp_path / "missing.ipynb")], tmp_path)


def test_the_repository_notebooks_resolve():
    names = [p.stem for p in available()]
    assert names == ["01-quickstart", "02-the-review", "03-why-the-series", "04-your-machine", "05-sweeps",
                     "06-your-workload"]
    assert resolve(["the-review"])[0].name == "02-the-review.ipynb"


def test_cli_unknown_notebook_is_one_line_and_status_2(capsys, tmp_path):
    assert cli.main(["report", "no-such-notebook", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mmkit: error: notebook: unknown notebook 'no-such-notebook'")
    assert "02-the-review" in err[0]
    assert list(tmp_path.iterdir()) == []


def test_cli_list(capsys):
    assert cli.main(["report", "--list"]) == 0
    assert capsys.readouterr().out.split() == ["01-quickstart", "02-the-review", "03-why-the-series",
                                               "04-your-machine", "05-sweeps", "06-your-workload"]


# ------------------------------------------------------------------ the HTML writer
def test_render_every_output_kind():
    nb = notebook("md:# Title\n\nSome *text*.", "x = 1", "charts", "remove me", "widget")
    nb.cells[1].outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="hello <b>\n"),
        nbformat.v4.new_output("stream", name="stderr", text="\x1b[31mred\x1b[0m"),
        nbformat.v4.new_output("execute_result", data={"text/html": "<table><tr><td>1</td></tr></table>",
                                                       "text/plain": "frame"}, execution_count=1),
        nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "img"}),
        nbformat.v4.new_output("display_data", data={"text/plain": "a < b"}),
    ]
    nb.cells[2].outputs = [
        nbformat.v4.new_output("display_data", data={"application/vnd.vegalite.v6+json": spec()}),
        nbformat.v4.new_output("display_data", data={"application/vnd.vegalite.v5+json": spec(
            title="</script><script>alert(1)</script>")}),
        # Altair's "html" renderer: the spec is taken out of its CDN-loading HTML
        nbformat.v4.new_output("display_data", data={"text/html": (
            '<div id="altair-viz-1"></div><script type="text/javascript">'
            '(function(spec, embedOpt){ vegaEmbed("#altair-viz-1", spec, embedOpt); })'
            f'({json.dumps(spec())}, {{"mode": "vega-lite"}});\nvar spec = {json.dumps(spec(title="from html"))};'
            '</script>'), "text/plain": "chart"}),
    ]
    nb.cells[3].metadata["tags"] = ["remove-cell"]
    nb.cells[4].outputs = [nbformat.v4.new_output("display_data", data={
        "application/vnd.jupyter.widget-view+json": {"model_id": "x", "version_major": 2, "version_minor": 0},
        "text/plain": "HBox()"})]
    page = render(nb, title="T & t", widget_note="use JupyterLab")
    h = page.html
    assert page.charts == 3 and page.widgets == 1 and page.cells == 4
    assert "<title>T &amp; t</title>" in h and "<h1" in h and "<em>text</em>" in h
    assert "hello &lt;b&gt;" in h and "\x1b" not in h and ">red<" in h
    assert "<td>1</td>" in h and 'src="data:image/png;base64,iVBORw0KGgo="' in h and "a &lt; b" in h
    assert "use JupyterLab" in h and "remove me" not in h
    assert h.count("window.vegaEmbed=") == 1
    assert h.count('class="vega-spec"') == 3
    # a spec cannot end its script element: only the page's own scripts close one
    assert h.count("</script>") == 3 + 2
    assert "alert(1)" in h and "<script>alert" not in h
    assert 'id="show-code" checked' in h and "#show-code:not(:checked) ~ main .input" in h


def test_spec_json_round_trips_and_nan_is_null():
    text = vega.json_for_script({"t": "</script><!-- & >", "v": [1.5, float("nan"), float("inf")]})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"t": "</script><!-- & >", "v": [1.5, None, None]}


def test_script_text_breaks_closing_tags():
    assert vega.script_text('a="</SCRIPT>";b="<!--"') == 'a="<\\/SCRIPT>";b="<\\!--"'


def test_vegalite_version_follows_the_specs():
    assert vega.vegalite_version([spec()]) == "6.4"
    assert vega.vegalite_version([{"$schema": "https://vega.github.io/schema/vega-lite/v5.17.0.json"}]) == "5.17"
    assert vega.vegalite_version([{"$schema": "https://vega.github.io/schema/vega-lite/v5.9.0.json"}]) == "5.14"
    assert vega.vegalite_version([{"mark": "point"}]) is None
    assert vega.chart_mimetype("application/vnd.vegalite.v6.json") == "vega-lite"
    assert vega.chart_mimetype("application/vnd.vega.v5+json") == "vega"
    assert vega.chart_mimetype("text/html") is None


# ------------------------------------------------------------------ atomic writes
def test_write_atomic_replaces_or_leaves_the_old_file(tmp_path, monkeypatch):
    dest = tmp_path / "r.html"
    write_atomic(dest, b"one")
    assert dest.read_bytes() == b"one"

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(dest, b"two, half written")
    assert dest.read_bytes() == b"one"
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


# ------------------------------------------------------------------ building
def test_build_executes_and_writes(tmp_path):
    folder = tmp_path / "nb"
    write_nb(folder, "01-tiny", "md:# Tiny\n\nWhat it shows.",
             "import altair as alt, polars as pl\n"
             "alt.Chart(pl.DataFrame({'a': [1, 2], 'b': [3, 4]})).mark_bar().encode(x='a:O', y='b:Q')",
             "import os; print(os.path.basename(os.getcwd()))")
    lines = []
    [r] = build(None, tmp_path / "out", folder=folder, timeout=120, log=lines.append)
    assert r.html == tmp_path / "out" / "01-tiny.html" and r.charts == 1 and r.bytes == r.html.stat().st_size
    text = r.html.read_text()
    assert '<pre class="stream stdout">nb\n</pre>' in text  # the kernel runs in the notebook's folder
    assert "<title>Tiny</title>" in text and "cdn.jsdelivr" not in text
    assert lines[0].startswith("[1/1] 01-tiny: executing") and "wrote" in lines[1]


def test_a_result_table_reaches_the_report_formatted(tmp_path):
    """``Result.table``'s numbers, executed in a kernel and written to the report: shares
    as percents, counts as integers, indices with three decimals; never the raw floats."""
    folder = tmp_path / "nb"
    write_nb(folder, "01-table", "md:# Table",
             "import polars as pl\nfrom mmkit.result import Table\n"
             "Table(pl.DataFrame({'counter': ['thp_success', 'pgmigrate_success', 'unusable_9'],\n"
             "                    'v4.5': [7 / 17, 12344.0, 1.0], 'v4.8': [4 / 23, 17576.0, 0.7011],\n"
             "                    'v4.8 %': [-57.76397, 42.38496, -29.89]}))")
    [r] = build(None, tmp_path / "out", folder=folder, timeout=120)
    text = r.html.read_text()
    cells = [re.sub(r"<[^>]*>", "", c.split("<td", 1)[-1].split(">", 1)[-1]) for c in text.split("</td>")[:-1]]
    assert cells == ["thp_success", "41.2%", "17.4%", "-57.8%", "pgmigrate_success", "12,344", "17,576", "+42.4%",
                     "unusable_9", "1.000", "0.701", "-29.9%"]
    table = text[text.index("<table"):text.index("</table>")]
    assert "0.411765" not in table and "12344.0" not in table


def test_build_reports_the_failing_cell_and_writes_nothing(tmp_path):
    folder = tmp_path / "nb"
    write_nb(folder, "01-broken", "md:# Broken", "x = 1", "1 / 0")
    with pytest.raises(ReportError, match=r"01-broken.ipynb, cell 3 of 3: ZeroDivisionError"):
        build(None, tmp_path / "out", folder=folder, timeout=120, log=lambda m: None)
    assert list((tmp_path / "out").iterdir()) == []


def test_build_per_cell_timeout(tmp_path):
    folder = tmp_path / "nb"
    write_nb(folder, "01-slow", "import time; time.sleep(30)")
    with pytest.raises(ReportError, match=r"cell 1 of 1: ran longer than the per-cell timeout of 2 s"):
        build(None, tmp_path / "out", folder=folder, timeout=2, log=lambda m: None)


def test_ctrl_c_leaves_no_file(tmp_path):
    """SIGINT while a notebook runs: status 130, and nothing in the output folder."""
    folder = tmp_path / "nb"
    nbp = write_nb(folder, "01-long", "import time; print('started', flush=True); time.sleep(60)")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "mmkit.report", str(nbp), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not out.exists():
        time.sleep(0.1)
    time.sleep(4)  # the kernel is up and in the cell
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "mmkit: interrupted" in err
    assert list(out.iterdir()) == []
