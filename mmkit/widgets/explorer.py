"""The Explorer: controls built from the parameter declaration -> ``mmkit.compare`` ->
the ``mmkit.viz`` charts, updated in place; a pageblock picker showing that block page by
page; Export writes the comparison as one self-contained HTML file.

Charts are drawn in ipywidgets ``Output`` areas as HTML whose Vega libraries come from
vl-convert's bundle, loaded once into the page: nothing is fetched from the network.
(altair's ``JupyterChart`` would sync the map's selection back to Python, but needs
anywidget, which mmkit does not depend on; the pageblock picker does that job.)
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import ipywidgets as W

from mmkit import viz
from mmkit.errors import MmkitError, ParameterError
from mmkit.inputs import MAX_TICKS, check_gib, check_int, check_number
from mmkit.model.kinds import MAX_ORDER
from mmkit.semantics import COMPARE_VARIANTS, NAMED, Variant, resolve
from mmkit.viz import html as vhtml
from mmkit.widgets import controls as C
from mmkit.widgets.pageblock import pageblock_html
from mmkit.workloads import PARAMS, PRESETS
from mmkit.workloads import workload as get_workload

DEFAULT_VARIANTS = COMPARE_VARIANTS
CHARTS = ("fragmentation", "misrouted", "buddyinfo", "memory_map", "table")
TAB_TITLES = ("Fragmentation", "Faults", "Buddyinfo", "Memory map", "Before/after table")


def _display_data(text_html: str, plain: str) -> dict:
    return {"output_type": "display_data", "data": {"text/html": text_html, "text/plain": plain}, "metadata": {}}


class Explorer:
    """Run one workload under several variants and look at the result.

    ``controls`` maps a name to its widget: ``workload``, ``gib``, ``variants``,
    ``seed``, ``ticks``, one per workload parameter (``mmkit.workloads.PARAMS``), and
    the view controls ``order``, ``index``, ``color``, ``map_variant``, ``pageblock``.
    ``run()`` does what the Run button does; ``result`` is the last ``Result``,
    ``charts`` its charts by name (``compare_table`` under ``"table"``), ``timings``
    the seconds the last run spent simulating and building charts.

    ``trace``: a folder recorded by ``mmkit trace record`` (or a ``mmkit.trace.Trace``):
    the workload control then offers it beside the presets, selected, and a run replays
    it (``mmkit.replay``) under the selected variants instead of running a preset; the
    machine size, ticks and workload parameters do not apply to it and are disabled.
    """

    def __init__(self, workload: str = "review-04", gib: float | None = None,
                 variants: Iterable[str | Variant] | None = None, seed: int = 1, ticks: int | None = None,
                 trace: Any = None) -> None:
        self._trace = None
        self._trace_option = None
        if trace is not None:
            from mmkit.trace.replay import _load

            self._trace = _load(trace)  # TraceError now, not at the first run
            self._trace_option = f"trace: {self._trace.path.name}"
        wl = get_workload(workload)
        self._variants: dict[str, Variant] = dict(NAMED)
        picked = []
        for vv in resolve(variants if variants is not None else DEFAULT_VARIANTS):
            self._variants[vv.name] = vv
            picked.append(vv.name)
        gib = wl.gib if gib is None else gib
        ticks = wl.ticks if ticks is None else ticks
        run = C.run_controls(wl.name, wl.gib, list(self._variants), picked, 1, wl.ticks, MAX_TICKS)
        self.controls: dict[str, W.ValueWidget] = dict(run)
        self.controls.update(C.param_controls(wl.name))
        self._preset_sizes = {"gib": wl.gib, "ticks": wl.ticks}
        self.set(gib=gib, seed=seed, ticks=ticks)
        self.controls.update({
            "order": W.BoundedIntText(value=9, min=0, max=MAX_ORDER - 1, description="order",
                                      tooltip="allocation order of the fragmentation chart", layout=W.Layout(width="150px")),
            "index": W.Dropdown(options=list(viz.timeline.INDEXES), value="unusable", description="index",
                                layout=W.Layout(width="220px")),
            "color": W.Dropdown(options=list(viz.memmap.COLORS), value="kind", description="colour",
                                layout=W.Layout(width="220px")),
            "map_variant": W.Dropdown(options=picked, value=picked[0], description="variant",
                                      layout=W.Layout(width="260px")),
            "pageblock": W.BoundedIntText(value=0, min=0, max=0, description="pageblock",
                                          tooltip="the pageblock to show page by page", layout=W.Layout(width="200px")),
        })
        self.result = None
        self._quiet = False  # set while run() moves the view controls itself
        self.charts: dict[str, Any] = {}
        self.timings: dict[str, float] = {}
        self._build_layout()
        vhtml.warm_bundle()
        if self._trace_option is not None:
            w = self.controls["workload"]
            w.options = [self._trace_option, *w.options]
            w.value = self._trace_option
            self._trace_controls(True)
        self.controls["workload"].observe(self._on_workload, names="value")
        for name in ("order", "index"):
            self.controls[name].observe(lambda _: self._refresh("fragmentation"), names="value")
        self.controls["color"].observe(lambda _: self._refresh("memory_map"), names="value")
        self.controls["map_variant"].observe(lambda _: self._refresh("memory_map", "pageblock"), names="value")
        self.controls["pageblock"].observe(lambda _: self._refresh("memory_map", "pageblock"), names="value")

    # ------------------------------------------------------------ layout
    def _build_layout(self) -> None:
        c = self.controls
        self.run_button = W.Button(description="Run", button_style="primary", icon="play",
                                   tooltip="run the workload under every selected variant")
        self.run_button.on_click(lambda _: self._click(self.run))
        self.progress = W.IntProgress(value=0, min=0, max=100, description="", layout=W.Layout(width="330px"))
        self.status = W.HTML(value="Set the controls and press Run.")
        self.export_path = W.Text(value="", placeholder="comparison.html", description="file",
                                  layout=W.Layout(width="330px"))
        self.export_button = W.Button(description="Export HTML", icon="download",
                                      tooltip="write this comparison as one self-contained HTML file")
        self.export_button.on_click(lambda _: self._click(lambda: self.export(self.export_path.value or None)))
        self._params_own = W.VBox()
        self._params_rest = W.VBox()
        self._more = W.Accordion(children=[self._params_rest], titles=("more parameters",), selected_index=None)
        self._place_params()
        left = W.VBox([
            W.HTML("<b>Scenario</b>"), c["workload"], c["gib"], c["variants"], c["seed"], c["ticks"],
            W.HTML("<b>Workload parameters</b>"), self._params_own, self._more,
            self.run_button, self.progress, self.status, W.HTML("<b>Export</b>"), self.export_path, self.export_button,
        ], layout=W.Layout(width="350px"))
        self._loader = W.Output(layout=W.Layout(height="0px", overflow="hidden"))
        self.outputs = {name: W.Output() for name in CHARTS}
        self.pageblock_view = W.HTML(value="")
        tabs = [
            W.VBox([W.HBox([c["order"], c["index"]]), self.outputs["fragmentation"]]),
            self.outputs["misrouted"],
            self.outputs["buddyinfo"],
            W.VBox([W.HBox([c["color"], c["map_variant"], c["pageblock"]]), self.outputs["memory_map"],
                    self.pageblock_view]),
            self.outputs["table"],
        ]
        self.tabs = W.Tab(children=tabs, titles=TAB_TITLES)
        self.widget = W.HBox([left, W.VBox([self._loader, self.tabs], layout=W.Layout(flex="1"))])

    def _place_params(self) -> None:
        decl = PRESETS[self.controls["workload"].value].declaration()
        own = set(PRESETS[self.controls["workload"].value].own)
        self._params_own.children = [self.controls[p.name] for p in decl if p.name in own]
        self._params_rest.children = [self.controls[p.name] for p in decl if p.name not in own]

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    # ------------------------------------------------------------ values
    def set(self, **values: Any) -> None:
        """Set controls by name, refusing what a control cannot hold (a bounded number
        box would quietly clamp it): ``ex.set(ticks=500, target_used=1.3)``."""
        for name, value in values.items():
            if name not in self.controls:
                raise ParameterError(f"{name}: no such control; controls are {', '.join(self.controls)}")
            w = self.controls[name]
            if isinstance(w, (W.Dropdown, W.SelectMultiple)):
                options = list(w.options)
                one = isinstance(w, W.Dropdown) or isinstance(value, (str, Variant)) or not isinstance(value, Iterable)
                wanted = [getattr(v, "name", v) for v in ([value] if one else value)]
                bad = [v for v in wanted if v not in options]
                if bad:
                    raise ParameterError(f"{name}: {bad[0]!r} is not allowed; allowed values are {', '.join(map(str, options))}")
                value = wanted[0] if isinstance(w, W.Dropdown) else tuple(wanted)
            elif isinstance(w, W.Checkbox):
                if not isinstance(value, bool) and value not in (0, 1):
                    raise ParameterError(f"{name}: {value!r} is not a bool")
                value = bool(value)
            elif isinstance(w, W.BoundedIntText):
                value = check_int(name, value, int(w.min), int(w.max))
            elif isinstance(w, W.BoundedFloatText):
                value = check_gib(value) if name == "gib" else check_number(name, value)
                if not w.min <= value <= w.max:
                    raise ParameterError(f"{name}: {value!r} is out of range; allowed {w.min:g}..{w.max:g}")
            w.value = value

    def _trace_controls(self, on: bool) -> None:
        """With the trace selected, the synthetic machine's controls do not apply."""
        for name in ("gib", "ticks", *PARAMS):
            self.controls[name].disabled = on
        self.controls["workload"].tooltip = (f"replay {self._trace.path} (mmkit.replay)" if on
                                             else PRESETS[self.controls["workload"].value].description)

    def _on_workload(self, change: dict) -> None:
        if self._trace_option is not None:
            on = change["new"] == self._trace_option
            self._trace_controls(on)
            if on:
                return
        wl = PRESETS[change["new"]]
        C.set_preset(self.controls, wl.name)
        self.controls["workload"].tooltip = wl.description
        # the machine size and length follow the preset unless the user changed them
        for name in ("gib", "ticks"):
            if self.controls[name].value == self._preset_sizes[name]:
                self.controls[name].value = getattr(wl, name)
        self._preset_sizes = {"gib": wl.gib, "ticks": wl.ticks}
        self._place_params()

    def values(self) -> dict[str, Any]:
        """The arguments the next run passes to ``mmkit.compare`` (or, with the trace
        selected, to ``mmkit.replay``: ``trace``, ``variants``, ``seed``), from the
        controls."""
        c = self.controls
        names = list(c["variants"].value)
        if not names:
            raise ParameterError(f"variants: select at least one of {', '.join(self._variants)}")
        if self._trace_option is not None and c["workload"].value == self._trace_option:
            return {"trace": self._trace, "variants": [self._variants[n] for n in names], "seed": int(c["seed"].value)}
        kw = {"workload": c["workload"].value, "variants": [self._variants[n] for n in names],
              "gib": float(c["gib"].value), "seed": int(c["seed"].value), "ticks": int(c["ticks"].value)}
        kw.update({name: c[name].value for name in PARAMS})
        return kw

    # ------------------------------------------------------------ actions
    def _click(self, action) -> None:
        try:
            action()
        except MmkitError as e:
            self.progress.bar_style = "danger"
            self.status.value = f'<span style="color:#B22222">{html.escape(str(e))}</span>'

    def run(self) -> Any:
        """Run ``mmkit.compare`` (``mmkit.replay`` with the trace selected) with the
        controls' values and update every chart; returns the Result. Raises the API's
        error (ParameterError...) on bad values."""
        from mmkit.run import compare
        from mmkit.trace.replay import replay

        kw = self.values()
        n = len(kw["variants"])
        self.progress.bar_style = "info"
        self.progress.value = 1
        if "trace" in kw:
            self.status.value = f"replaying {self._trace.path.name}: {n} variants"
        else:
            self.status.value = f"simulating {kw['workload']}: {n} variants x {kw['ticks']} ticks, {kw['gib']:g} GiB"
        t0 = time.perf_counter()
        self.run_button.disabled = True

        def bar(done: int, total: int) -> None:
            # work done over all variants moves the bar to 80 %; the charts take the rest
            self.progress.value = 1 + 79 * done // max(total, 1)

        try:
            if "trace" in kw:
                result = replay(kw["trace"], kw["variants"], seed=kw["seed"], progress=bar)
            else:
                result = compare(None, **kw, progress=bar)
        except BaseException:
            self.progress.bar_style = "danger"
            self.progress.value = 0
            raise
        finally:
            self.run_button.disabled = False
        t1 = time.perf_counter()
        self.progress.value = 80
        self.status.value = "building charts"
        self.result = result
        self._quiet = True
        try:
            mv = self.controls["map_variant"]
            keep = mv.value if mv.value in result.variants else result.variants[0]
            mv.options = list(result.variants)
            mv.value = keep
            pb = self.controls["pageblock"]
            pb.max = result.memories[keep].nr_pageblocks - 1
            if pb.value == 0 or pb.value > pb.max:
                pb.value = self._first_fault_pageblock()
        finally:
            self._quiet = False
        self._refresh(*CHARTS, "pageblock")
        t2 = time.perf_counter()
        self.timings = {"simulate": t1 - t0, "charts": t2 - t1, "total": t2 - t0}
        self.progress.value = 100
        self.progress.bar_style = "success"
        self.status.value = (f"{result.info['workload']}, {result.info['memory']}, {n} variants: "
                             f"simulated in {t1 - t0:.2f} s, charts in {t2 - t1:.2f} s")
        return result

    def _first_fault_pageblock(self) -> int:
        """The pageblock of the first fault in the first variant (0 if none): a place
        worth looking at."""
        import polars as pl

        from mmkit.model.kinds import PAGEBLOCK_ORDER
        from mmkit.result import FAULTS

        r = self.result
        ev = r.events.filter((pl.col("variant") == self.controls["map_variant"].value) & pl.col("event").is_in(list(FAULTS)))
        return int(ev["pfn"][0]) >> PAGEBLOCK_ORDER if ev.height else 0

    def build_charts(self, *names: str) -> dict[str, Any]:
        """Build the named charts (all by default) of the current result from the view
        controls, without drawing them."""
        r, c = self.result, self.controls
        if r is None:
            raise ParameterError("result: nothing to chart yet; press Run (or call run()) first")
        build = {
            "fragmentation": lambda: viz.fragmentation(r, order=c["order"].value, index=c["index"].value),
            "misrouted": lambda: viz.misrouted(r),
            "buddyinfo": lambda: viz.buddyinfo(r),
            "memory_map": lambda: viz.memory_map(r, color=c["color"].value, highlight=c["pageblock"].value),
            "table": lambda: viz.compare_table(r),
        }
        for name in names or CHARTS:
            self.charts[name] = build[name]()
        return {n: self.charts[n] for n in names or CHARTS}

    def _refresh(self, *names: str) -> None:
        if self.result is None or self._quiet:
            return
        if not self._loader.outputs:
            self._loader.outputs = (_display_data(vhtml.bundle_script(), ""),)
        charts = [n for n in names if n in CHARTS]
        if charts:
            self.build_charts(*charts)
        for name in charts:
            chart = self.charts[name]
            if name == "table":
                body = chart.to_html()
            else:
                # specs are validated by the tests; a live view skips jsonschema's cost and
                # has polars write the data (viz.html.spec_json)
                body = vhtml.embed_html(chart, validate=False)
            self.outputs[name].outputs = (_display_data(body, f"<{name} chart>"),)
        if "pageblock" in names:
            self.pageblock_view.value = pageblock_html(self.result, self.controls["pageblock"].value,
                                                       self.controls["map_variant"].value)

    def export(self, path: str | Path | None = None) -> Path:
        """Write the current comparison (table and every chart) as one HTML file that
        needs no network; returns its path (default: ``mmkit-<workload>-seed<seed>.html``)."""
        r = self.result
        if r is None:
            raise ParameterError("export: nothing to export yet; press Run (or call run()) first")
        i = r.info
        path = Path(path) if path else Path(f"mmkit-{i['workload']}-seed{i['seed']}.html")
        if not self.charts or set(self.charts) != set(CHARTS):
            self.build_charts()
        parts = [self.charts["table"].to_html()]
        parts += [vhtml.embed_html(self.charts[n]) for n in CHARTS if n != "table"]
        params = ", ".join(f"{k}={v}" for k, v in i["params"].items())
        intro = (f"workload <code>{html.escape(i['workload'])}</code>, {html.escape(i['memory'])}, {i['ticks']} ticks, "
                 f"seed {i['seed']}, variants {html.escape(', '.join(r.variants))}.<br>"
                 f"<small>parameters: {html.escape(params)}</small>")
        out = vhtml.save_page(path, f"mmkit: {i['workload']} under {len(r.variants)} variants", parts, intro=intro)
        self.status.value = f"exported to {html.escape(str(out))}"
        return out
