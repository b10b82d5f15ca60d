"""An executed notebook as one self-contained HTML page.

Everything the page needs is inside it: the style, the Vega JavaScript (inlined once, see
:mod:`mmkit.viz.vega`) and every chart's spec, which Vega-Embed draws when the page
opens. No ``src`` or ``href`` points outside the file, so it reads the same offline.
A checkbox at the top hides the code cells (plain CSS, works without JavaScript).

Cell tags follow Jupyter Book's: ``remove-cell``, ``remove-input``, ``remove-output``.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from typing import Any

from mmkit.viz import vega

# In the order a notebook front end prefers them, after the chart mimetypes.
_WIDGET = "application/vnd.jupyter.widget-view+json"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

CSS = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --code-bg: #f6f8fa; --accent: #0969da; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff;
  font: 16px/1.55 -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header.report { position: sticky; top: 0; z-index: 10; background: #fffffff0; border-bottom: 1px solid var(--line);
  padding: .5rem 1.5rem; display: flex; gap: 1.5rem; align-items: center; font-size: .9rem; color: var(--muted); }
header.report .name { font-weight: 600; color: var(--fg); }
header.report label { cursor: pointer; user-select: none; }
main { max-width: 1120px; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
footer.report { max-width: 1120px; margin: 0 auto; padding: 1rem 1.5rem 2rem; color: var(--muted); font-size: .85rem;
  border-top: 1px solid var(--line); }
.cell { margin: .9rem 0; }
.markdown h1 { font-size: 1.9rem; margin: 1.2rem 0 .6rem; }
.markdown h2 { font-size: 1.45rem; margin: 2rem 0 .5rem; padding-bottom: .2rem; border-bottom: 1px solid var(--line); }
.markdown h3 { font-size: 1.15rem; margin: 1.4rem 0 .4rem; }
.markdown a.anchor-link { visibility: hidden; margin-left: .3rem; text-decoration: none; color: var(--muted); }
.markdown :hover > a.anchor-link { visibility: visible; }
.markdown blockquote { margin: .6rem 0; padding: .2rem 1rem; color: var(--muted); border-left: .25rem solid var(--line); }
a { color: var(--accent); }
code { font: .88em/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: var(--code-bg);
  padding: .1em .3em; border-radius: 4px; }
pre { font: .85rem/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; margin: 0; overflow-x: auto;
  white-space: pre; }
pre code { background: none; padding: 0; }
.markdown .highlight, .input { background: var(--code-bg); border: 1px solid var(--line); border-radius: 6px;
  padding: .6rem .8rem; }
.input { position: relative; }
.input .prompt { position: absolute; right: .6rem; top: .35rem; font-size: .75rem; color: var(--muted); }
.outputs > * { margin-top: .5rem; }
.stream, .text-output { padding: .2rem .8rem; }
.stream, .text-output, .error { white-space: pre-wrap; overflow-wrap: anywhere; }
.stream.stderr { background: #fff8e6; }
.error { background: #ffebe9; padding: .5rem .8rem; border-radius: 6px; }
.widget-note { padding: .5rem .8rem; border: 1px dashed var(--line); border-radius: 6px; color: var(--muted); }
.html-output { overflow-x: auto; }
table { border-collapse: collapse; font-size: .85rem; margin: .4rem 0; }
th, td { border: 1px solid var(--line); padding: .25rem .55rem; text-align: right; }
th { background: var(--code-bg); }
td:first-child, th:first-child { text-align: left; }
.markdown table td, .markdown table th { text-align: left; }
img { max-width: 100%; }
.chart { overflow-x: auto; }
#show-code:not(:checked) ~ main .input { display: none; }
@media print { header.report { position: static; } }
"""

_RENDER_JS = """
(function () {
  "use strict";
  var base = {renderer: "svg", actions: {export: true, source: false, compiled: false, editor: false}};
  document.querySelectorAll("script.vega-spec").forEach(function (s) {
    var el = document.getElementById(s.getAttribute("data-target"));
    var opts = Object.assign({}, base, {mode: s.getAttribute("data-mode")});
    var spec;
    try {
      spec = JSON.parse(s.textContent);
    } catch (err) {
      el.setAttribute("data-rendered", "error");
      console.error("mmkit report: " + el.id + ": bad spec: " + err);
      return;
    }
    vegaEmbed(el, spec, opts).then(function () {
      el.setAttribute("data-rendered", "ok");
    }).catch(function (err) {
      el.setAttribute("data-rendered", "error");
      el.textContent = "This chart could not be drawn: " + err;
      console.error("mmkit report: " + el.id + ": " + err);
    });
  });
})();
"""


@dataclass
class Page:
    """A rendered page: its HTML and what it holds."""

    html: str
    charts: int
    widgets: int = 0
    cells: int = 0
    notes: list[str] = field(default_factory=list)


def render(nb: Any, *, title: str, footer: str = "", widget_note: str | None = None) -> Page:
    """The HTML page of executed notebook ``nb`` (an nbformat v4 NotebookNode)."""
    r = _Renderer(widget_note)
    body = []
    for cell in nb.cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & {"remove-cell", "remove_cell"}:
            continue
        if cell.cell_type == "markdown":
            body.append(f'<section class="cell markdown">{_markdown(cell.source)}</section>')
        elif cell.cell_type == "code":
            body.append(r.code_cell(cell, tags))
    specs = [s for _, _, s in r.charts]
    scripts = ""
    if r.charts:
        spec_tags = "\n".join(
            f'<script type="application/json" class="vega-spec" data-target="{cid}" data-mode="{mode}">'
            f"{vega.json_for_script(spec)}</script>"
            for cid, mode, spec in r.charts)
        scripts = (f"{spec_tags}\n<script>\n{vega.javascript_bundle(vega.vegalite_version(specs))}\n</script>\n"
                   f"<script>{_RENDER_JS}</script>")
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="mmkit report">
<title>{html.escape(title)}</title>
<style>{CSS}{_pygments_css()}</style>
</head>
<body>
<input type="checkbox" id="show-code" checked hidden>
<header class="report"><span class="name">{html.escape(title)}</span>
<label for="show-code" title="show or hide the code cells">&#9000; show / hide code</label></header>
<main>
{chr(10).join(body)}
</main>
<footer class="report">{footer}</footer>
{scripts}
</body>
</html>
"""
    return Page(page, charts=len(r.charts), widgets=r.widgets, cells=len(body))


class _Renderer:
    def __init__(self, widget_note: str | None) -> None:
        self.charts: list[tuple[str, str, dict]] = []
        self.widgets = 0
        self.widget_note = widget_note or (
            "An interactive widget is here when the notebook runs in JupyterLab; this page is a static copy.")

    def code_cell(self, cell: Any, tags: set[str]) -> str:
        parts = []
        if not tags & {"remove-input", "remove_input"} and cell.source.strip():
            n = cell.get("execution_count")
            prompt = f'<span class="prompt">[{n}]</span>' if n else ""
            parts.append(f'<div class="input">{prompt}{_highlight(cell.source)}</div>')
        if not tags & {"remove-output", "remove_output"}:
            outs = "".join(self.output(o) for o in cell.get("outputs", []))
            if outs:
                parts.append(f'<div class="outputs">{outs}</div>')
        return f'<section class="cell code">{"".join(parts)}</section>'

    def output(self, out: Any) -> str:
        kind = out.get("output_type")
        if kind == "stream":
            text = _ANSI.sub("", _joined(out.get("text", "")))
            return f'<pre class="stream {html.escape(out.get("name", "stdout"))}">{html.escape(text)}</pre>'
        if kind == "error":
            tb = _ANSI.sub("", "\n".join(out.get("traceback", [])) or f"{out.get('ename')}: {out.get('evalue')}")
            return f'<pre class="error">{html.escape(tb)}</pre>'
        if kind in ("display_data", "execute_result"):
            return self.data(out.get("data", {}))
        return ""

    def data(self, data: dict[str, Any]) -> str:
        for mime, value in data.items():
            mode = vega.chart_mimetype(mime)
            if mode:
                return self.chart(mode, value)
        if _WIDGET in data:
            self.widgets += 1
            return f'<div class="widget-note">{html.escape(self.widget_note)}</div>'
        if "text/html" in data:
            text = _joined(data["text/html"])
            spec = vega.spec_from_altair_html(text)
            if spec is not None:
                return self.chart("vega-lite", spec)
            return f'<div class="html-output">{text}</div>'
        if "image/svg+xml" in data:
            return f'<div class="image-output">{_joined(data["image/svg+xml"])}</div>'
        for mime in ("image/png", "image/jpeg", "image/gif"):
            if mime in data:
                b64 = "".join(_joined(data[mime]).split())
                base64.b64decode(b64, validate=True)
                return f'<div class="image-output"><img alt="" src="data:{mime};base64,{b64}"></div>'
        if "text/markdown" in data:
            return f'<div class="markdown">{_markdown(_joined(data["text/markdown"]))}</div>'
        if "text/plain" in data:
            return f'<pre class="text-output">{html.escape(_ANSI.sub("", _joined(data["text/plain"])))}</pre>'
        return ""

    def chart(self, mode: str, spec: Any) -> str:
        if isinstance(spec, str):
            import json

            spec = json.loads(spec)
        cid = f"vega-chart-{len(self.charts) + 1}"
        self.charts.append((cid, mode, spec))
        return f'<div class="chart"><div class="vega-chart" id="{cid}"></div></div>'


def _joined(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _markdown(source: str) -> str:
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return markdown2html_mistune(source)


def _highlight(source: str) -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    return highlight(source, PythonLexer(), HtmlFormatter(cssclass="highlight", nowrap=False))


def _pygments_css() -> str:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(style="default").get_style_defs(".highlight")
