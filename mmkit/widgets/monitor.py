"""The live Monitor: this machine's memory state sampled every few seconds in a background
thread, drawn over time, and "what would ``compact_memory`` do now".

Reading the files is :class:`mmkit.snapshot.Sampler`'s job, keeping them
:class:`mmkit.metrics.History`'s, drawing them :mod:`mmkit.viz.monitor`'s; this module
wires them to ipywidgets. Charts are drawn as the Explorer draws them (``Output`` areas,
HTML whose Vega libraries come from the bundle loaded once into the page: no network).
"""

from __future__ import annotations

import html
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as W
import polars as pl

from mmkit import viz
from mmkit.errors import Interrupted, MmkitError, ParameterError, SnapshotError
from mmkit.inputs import check_int, check_number
from mmkit.metrics import History, free_pages_by_order
from mmkit.snapshot import Sampler, live
from mmkit.viz import html as vhtml

__all__ = ["CHARTS", "Monitor"]

CHARTS = ("free", "indices", "pageblocks", "compaction", "prediction")
TAB_TITLES = ("Free pages by order", "Fragmentation indices", "Pageblocks", "Compaction counters",
              "compact_memory now")
STATES = ("now (captured)", "predicted by compact_memory", "after the real compact_memory")
INTERVAL_MIN, INTERVAL_MAX = 0.2, 3600.0


def _display_data(text_html: str, plain: str) -> dict:
    return {"output_type": "display_data", "data": {"text/html": text_html, "text/plain": plain}, "metadata": {}}


class _Cancelled(Interrupted):
    pass


def _red(text: str) -> str:
    return f'<span style="color:#B22222">{html.escape(text)}</span>'


class Monitor:
    """This machine's memory over time, in JupyterLab: free pages by order, the unusable
    and fragmentation indices, mixed pageblocks and the compaction counters.

    Every ``interval`` seconds a background thread reads buddyinfo, zoneinfo, vmstat,
    pagetypeinfo (root) and kpageflags (root, at most a tenth of the time) with a
    :class:`mmkit.snapshot.Sampler`, appends the sample to a bounded
    :class:`mmkit.metrics.History` (the last ``max_samples``) and redraws the chart on
    show. *Start* and *Stop* (:meth:`start`, :meth:`stop`) start and end the thread;
    :meth:`stop` returns within a second. *What would compact_memory do now*
    (:meth:`predict`) captures this machine to a temporary folder, rebuilds it with
    ``Memory.from_snapshot``, runs :func:`mmkit.compact_memory` on it and draws the
    predicted free blocks beside the captured ones; as root, with *also run the real
    one* ticked, it then runs ``echo 1 > /proc/sys/vm/compact_memory`` and samples again,
    to show the real result beside the prediction. :meth:`save` writes the history as a
    snapshot series (:func:`mmkit.snapshot.load_series` reads it back).

    Without root, the sources the kernel keeps for root (pagetypeinfo, 0400 since 5.6;
    kpageflags) are shown as unavailable, with why; the rest works.

    Parameters
    ----------
    interval
        Seconds between samples (0.2 to 3600).
    max_samples
        Samples the history keeps (the oldest are dropped).
    order
        Allocation order of the fragmentation-index chart (9: a 2 MiB THP on x86-64).
    kpageflags
        Read /proc/kpageflags for the mixed-pageblock count: True, False, or None (when
        it can be opened: root).
    variant
        The kernel rules the prediction runs under (``"v6.18"``: today's).
    proc_root, debugfs_root
        Where /proc and debugfs are (tests point them at folders of real file text).

    Attributes
    ----------
    controls : dict
        ``interval``, ``order``, ``zone``, ``real`` (the confirmation checkbox), ``path``.
    charts : dict
        The last chart built for each of :data:`CHARTS`.
    prediction : polars.DataFrame or None
        ``state, zone, order, nr_free`` of the last :meth:`predict`.
    prediction_vmstat : polars.DataFrame or None
        ``counter, predicted, real`` vmstat deltas of the last :meth:`predict`.

    Examples
    --------
    >>> mon = mmkit.widgets.Monitor(interval=1)                    # doctest: +SKIP
    >>> mon.start(); mon                                           # doctest: +SKIP
    >>> mon.stop(); mon.save("out/monitor")                        # doctest: +SKIP
    """

    def __init__(self, interval: float = 2.0, max_samples: int = 300, order: int = 9, *,
                 kpageflags: bool | None = None, variant: str = "v6.18",
                 proc_root: str | os.PathLike | None = None, debugfs_root: str | os.PathLike | None = None) -> None:
        from mmkit.semantics import variant as get_variant

        interval = check_number("interval", interval)
        if not INTERVAL_MIN <= interval <= INTERVAL_MAX:
            raise ParameterError(f"interval: {interval!r} seconds; give {INTERVAL_MIN:g}..{INTERVAL_MAX:g}")
        order = check_int("order", order, 0, 10)
        self.variant = get_variant(variant).name
        self.sampler = Sampler(proc_root, debugfs_root, kpageflags=kpageflags)
        # the live machine's page size (a folder of /proc files says none: x86-64's)
        self.page_size = os.sysconf("SC_PAGE_SIZE") if proc_root is None else 4096
        self._history = History(max_samples)
        self.charts: dict[str, Any] = {}
        self.prediction: pl.DataFrame | None = None
        self.prediction_vmstat: pl.DataFrame | None = None
        self.timings: dict[str, float] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._predict_thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._draw_lock = threading.RLock()
        self._stale = set(CHARTS)
        self._prediction_subtitle: list[str] = []
        self.controls: dict[str, W.ValueWidget] = {
            "interval": W.BoundedFloatText(value=interval, min=INTERVAL_MIN, max=INTERVAL_MAX, step=0.5,
                                           description="every (s)", layout=W.Layout(width="170px")),
            "order": W.BoundedIntText(value=order, min=0, max=10, description="order",
                                      tooltip="allocation order of the fragmentation chart",
                                      layout=W.Layout(width="150px")),
            "zone": W.Dropdown(options=["all zones"], value="all zones", description="zone",
                               layout=W.Layout(width="200px")),
            "real": W.Checkbox(value=False, indent=False,
                               description="also run the real compact_memory on this machine"),
            "path": W.Text(value="", placeholder="monitor-series", description="folder",
                           layout=W.Layout(width="330px")),
        }
        self._build_layout()
        vhtml.warm_bundle()
        self.controls["order"].observe(lambda _: self._redraw("indices"), names="value")
        self.controls["zone"].observe(lambda _: self._redraw("free"), names="value")
        self.tabs.observe(lambda _: self._redraw(), names="selected_index")

    # ------------------------------------------------------------ layout
    def _build_layout(self) -> None:
        c = self.controls
        self.start_button = W.Button(description="Start", icon="play", button_style="primary",
                                     tooltip="sample this machine every few seconds")
        self.stop_button = W.Button(description="Stop", icon="stop", disabled=True, tooltip="stop sampling")
        self.sample_button = W.Button(description="Sample now", icon="camera", tooltip="take one sample")
        self.start_button.on_click(lambda _: self._click(self.start))
        self.stop_button.on_click(lambda _: self._click(self.stop))
        self.sample_button.on_click(lambda _: self._click(self.sample))
        self.status = W.HTML(value="Press Start to sample this machine, or Sample now for one sample.")
        self.sources = W.HTML(value="")
        self.predict_button = W.Button(description="What would compact_memory do now?", icon="compress",
                                       layout=W.Layout(width="300px"),
                                       tooltip="capture this machine, rebuild it and run the simulated compact_memory")
        self.predict_button.on_click(lambda _: self._click(self._predict_in_background))
        self.predict_status = W.HTML(value="")
        self.prediction_table = W.HTML(value="")
        if os.geteuid() != 0:
            c["real"].disabled = True
            c["real"].description = "run the real compact_memory (needs root)"
        self.save_button = W.Button(description="Save series", icon="save",
                                    tooltip="write the history as a snapshot series (mmkit.snapshot.load_series)")
        self.save_button.on_click(lambda _: self._click(lambda: self.save(c["path"].value or None)))
        self._loader = W.Output(layout=W.Layout(height="0px", overflow="hidden"))
        self.outputs = {name: W.Output() for name in CHARTS}
        tabs = [
            W.VBox([c["zone"], self.outputs["free"]]),
            W.VBox([c["order"], self.outputs["indices"]]),
            self.outputs["pageblocks"],
            self.outputs["compaction"],
            W.VBox([W.HBox([self.predict_button, c["real"]]), self.predict_status, self.outputs["prediction"],
                    self.prediction_table]),
        ]
        self.tabs = W.Tab(children=tabs, titles=TAB_TITLES)
        bar = W.HBox([self.start_button, self.stop_button, self.sample_button, c["interval"]])
        save = W.HBox([c["path"], self.save_button])
        self.widget = W.VBox([bar, self.status, self.sources, self._loader, self.tabs, save])

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<mmkit Monitor: {state}, {len(self._history)} samples kept of {self._history.max_samples}>"

    def _click(self, action: Callable[[], Any]) -> None:
        try:
            action()
        except MmkitError as e:
            self.status.value = _red(str(e))

    # ------------------------------------------------------------ sampling
    @property
    def history(self) -> pl.DataFrame:
        """The kept samples as one frame (:data:`mmkit.metrics.history.SCHEMA`)."""
        return self._history.frame

    @property
    def samples(self) -> int:
        """How many samples the history holds now."""
        return len(self._history)

    @property
    def unavailable(self) -> dict[str, str]:
        """The sources the last sample could not read, each with why."""
        return dict(self._history.unavailable)

    @property
    def running(self) -> bool:
        """Whether the sampling thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def sample(self) -> Any:
        """Take one sample now, keep it and redraw; returns the :class:`~mmkit.snapshot.Sample`."""
        return self._take(None)

    def _take(self, stop: threading.Event | None) -> Any:
        s = self.sampler.sample(stop)
        self._history.append(s)
        self._show_sources(s)
        zones = ["all zones"] + list(dict.fromkeys(viz.monitor.zone_labels(s.zone_nodes, s.zone_names)))
        if list(self.controls["zone"].options) != zones:
            keep = self.controls["zone"].value
            with self._draw_lock:
                self.controls["zone"].options = zones
                self.controls["zone"].value = keep if keep in zones else "all zones"
        self._stale.update(CHARTS[:4])
        if stop is None or not stop.is_set():
            self._redraw()
        kpf = f"; kpageflags {s.kpageflags_seconds * 1000:.0f} ms" if s.kpageflags_seconds else ""
        self.status.value = (f"{'sampling' if self.running else 'sampled'}: {len(self._history)} samples kept "
                             f"(at most {self._history.max_samples}); last at "
                             f"{time.strftime('%H:%M:%S', time.localtime(s.time))}, read in "
                             f"{s.seconds * 1000:.0f} ms{kpf}")
        return s

    def _show_sources(self, s: Any) -> None:
        parts = []
        for name, state in s.status().items():
            if state.startswith("unavailable"):
                parts.append(f'<span style="color:#777">{name}: {html.escape(state[13:])}</span>')
            else:
                parts.append(f"{name}: {html.escape(state)}")
        self.sources.value = "<small>" + " &middot; ".join(parts) + "</small>"

    def start(self) -> None:
        """Start sampling every ``interval`` seconds in a background thread (the kernel
        stays free); does nothing if it runs already."""
        if self.running:
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(self._stop,), name="mmkit-monitor", daemon=True)
        self.start_button.disabled, self.stop_button.disabled = True, False
        self.status.value = "sampling..."
        self._thread.start()

    def _loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            t0 = time.monotonic()
            try:
                self._take(stop)
            except MmkitError as e:
                self.status.value = _red(f"sampling: {e}")
            except Exception as e:  # a bug: say it, keep the thread alive for the next sample
                self.status.value = _red(f"sampling failed: {type(e).__name__}: {e}")
            stop.wait(max(float(self.controls["interval"].value) - (time.monotonic() - t0), 0.05))

    def stop(self, timeout: float = 2.0) -> float:
        """Stop sampling (and a prediction under way) and wait for the thread to end, at
        most ``timeout`` seconds. Returns the seconds it took."""
        t0 = time.perf_counter()
        self._stop.set()
        self._cancel.set()
        for t in (self._thread, self._predict_thread):
            if t is not None and t is not threading.current_thread():
                t.join(max(timeout - (time.perf_counter() - t0), 0))
        took = time.perf_counter() - t0
        self.start_button.disabled, self.stop_button.disabled = False, True
        self.predict_button.disabled = False
        if self.running:
            self.status.value = _red(f"the sampling thread is still busy after {took:.1f} s; it ends after this sample")
        else:
            self.status.value = f"stopped ({len(self._history)} samples kept)"
        return took

    def close(self) -> None:
        """Stop, and close the widgets."""
        self.stop()
        self.widget.close()

    # ------------------------------------------------------------ charts
    def build_charts(self, *names: str) -> dict[str, Any]:
        """Build the named charts (all by default) from the history, without drawing them."""
        df = self.history
        c = self.controls
        zone = None if c["zone"].value == "all zones" else c["zone"].value
        build = {
            "free": lambda: viz.monitor_free(df, zone, self.page_size),
            "indices": lambda: viz.monitor_indices(df, c["order"].value),
            "pageblocks": lambda: viz.monitor_pageblocks(df, self.unavailable),
            "compaction": lambda: viz.monitor_compaction(df, self.unavailable),
            "prediction": lambda: (viz.compact_prediction(self.prediction, subtitle=self._prediction_subtitle)
                                   if self.prediction is not None else viz.monitor.unavailable_chart(
                                       ["press the button above: capture, rebuild, compact (simulated)"],
                                       "What compact_memory would do now")),
        }
        for name in names or CHARTS:
            if name not in build:
                raise ParameterError(f"chart: {name!r}; charts are {', '.join(CHARTS)}")
            self.charts[name] = build[name]()
        return {n: self.charts[n] for n in names or CHARTS}

    def _redraw(self, *names: str) -> None:
        """Redraw ``names`` if shown, else the shown tab's chart if stale; the others
        are marked stale and drawn when their tab is picked."""
        with self._draw_lock:
            self._stale.update(names)
            shown = CHARTS[self.tabs.selected_index or 0]
            if shown not in self._stale or (shown != "prediction" and not len(self._history)):
                return
            if not self._loader.outputs:
                self._loader.outputs = (_display_data(vhtml.bundle_script(), ""),)
            t0 = time.perf_counter()
            chart = self.build_charts(shown)[shown]
            self.outputs[shown].outputs = (_display_data(vhtml.embed_html(chart, validate=False), f"<{shown} chart>"),)
            self._stale.discard(shown)
            self.timings[f"draw_{shown}"] = time.perf_counter() - t0

    def draw(self, *names: str) -> None:
        """Draw the named charts (all by default) now, shown or not."""
        with self._draw_lock:
            if not self._loader.outputs:
                self._loader.outputs = (_display_data(vhtml.bundle_script(), ""),)
            for name, chart in self.build_charts(*names).items():
                self.outputs[name].outputs = (_display_data(vhtml.embed_html(chart, validate=False),
                                                            f"<{name} chart>"),)
                self._stale.discard(name)

    # ------------------------------------------------------------ compact_memory now
    def _predict_in_background(self) -> None:
        if self._predict_thread is not None and self._predict_thread.is_alive():
            return
        real = bool(self.controls["real"].value)
        self._cancel = threading.Event()
        self.predict_button.disabled = True

        def work() -> None:
            try:
                self.predict(real=real, _cancel=self._cancel)
            except Interrupted:
                self.predict_status.value = "stopped; nothing was predicted"
            except MmkitError as e:
                self.predict_status.value = _red(str(e))
            except Exception as e:  # a bug: say it
                self.predict_status.value = _red(f"failed: {type(e).__name__}: {e}")
            finally:
                self.predict_button.disabled = False
                self.controls["real"].value = False  # one confirmation, one run

        self._predict_thread = threading.Thread(target=work, name="mmkit-monitor-predict", daemon=True)
        self._predict_thread.start()

    def predict(self, real: bool = False, *, _cancel: threading.Event | None = None) -> pl.DataFrame:
        """What ``echo 1 > /proc/sys/vm/compact_memory`` would do now: capture this
        machine to a temporary folder, rebuild node 0 (``Memory.from_snapshot``), run
        :func:`mmkit.compact_memory` under ``variant``, and draw the predicted free blocks
        beside the captured ones. With ``real=True`` (root only: it compacts this
        machine's memory) it then writes 1 to ``/proc/sys/vm/compact_memory`` and samples
        again, to draw the real result beside the prediction.

        Returns
        -------
        polars.DataFrame
            ``state, zone, order, nr_free``; also kept as :attr:`prediction`, and the
            vmstat deltas as :attr:`prediction_vmstat`.

        Raises
        ------
        SnapshotError
            The capture has no kpageflags or kpagecount (not root): nothing to rebuild.
        ParameterError
            ``real=True`` without root.
        """
        from mmkit.compact import KERNEL_VMSTAT_NAMES, compact_memory
        from mmkit.from_snapshot import _build_memory

        if real and os.geteuid() != 0:
            raise ParameterError("real: running the real compact_memory needs root")
        cancel = _cancel if _cancel is not None else threading.Event()

        def step(what: str) -> None:
            if cancel.is_set():
                raise _Cancelled(f"stopped while {what}")
            self.predict_status.value = f"{what}..."

        times: dict[str, float] = {}
        tmp = Path(tempfile.mkdtemp(prefix="mmkit-monitor-"))
        try:
            t0 = time.perf_counter()
            step("capturing this machine")
            snap = live.capture(tmp / "now", compresslevel=1, proc_root=self.sampler.proc_root,
                                debugfs_root=self.sampler.debugfs_root)
            times["capture"] = time.perf_counter() - t0
            missing = {k: v for k, v in (snap.meta.get("missing") or {}).items() if k in ("kpageflags", "kpagecount")}
            if missing:
                raise SnapshotError("compact_memory's prediction is built from kpageflags and kpagecount, which "
                                    "are unavailable: " + "; ".join(f"{k}: {v}" for k, v in missing.items()))
            t0 = time.perf_counter()
            mem = _build_memory(snap, self.variant, 0, lambda what: step(f"rebuilding the memory: {what}"))
            times["rebuild"] = time.perf_counter() - t0
            step(f"running compact_memory ({self.variant}, simulated)")
            t0 = time.perf_counter()
            after, deltas = compact_memory(mem, self.variant)
            times["compact"] = time.perf_counter() - t0
            now = free_pages_by_order(snap).filter(pl.col("node") == 0)
            frames = [now.select(state=pl.lit(STATES[0]), zone="zone", order="order", nr_free="nr_free"),
                      free_pages_by_order(after).select(state=pl.lit(f"{STATES[1]} ({self.variant})"), zone="zone",
                                                        order="order", nr_free="nr_free")]
            vm = {"counter": list(KERNEL_VMSTAT_NAMES), "predicted": [deltas.get(k, 0) for k in KERNEL_VMSTAT_NAMES]}
            if real:
                step("running the real compact_memory")
                s0 = self.sampler.sample()  # vmstat just before: the real deltas are the run's own
                t0 = time.perf_counter()
                with open(self.sampler.proc_root / "sys" / "vm" / "compact_memory", "w") as f:
                    f.write("1\n")
                times["real"] = time.perf_counter() - t0
                s = self._take(None)
                real_bi = s.buddyinfo.filter(pl.col("node") == 0)
                frames.append(real_bi.select(state=pl.lit(STATES[2]), zone="zone", order="order", nr_free="nr_free"))
                before = dict(s0.vmstat.iter_rows()) if s0.vmstat is not None else {}
                after_vm = dict(s.vmstat.iter_rows()) if s.vmstat is not None else {}
                vm["real"] = [after_vm.get(k, 0) - before.get(k, 0) if k in after_vm else None
                              for k in KERNEL_VMSTAT_NAMES]
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        frame = pl.concat(frames, how="vertical_relaxed").with_columns(pl.col("order").cast(pl.Int64),
                                                                       pl.col("nr_free").cast(pl.Int64))
        vmf = pl.DataFrame(vm)
        keep = pl.col("predicted") != 0
        if "real" in vmf.columns:
            keep = keep | (pl.col("real").fill_null(0) != 0)
        self.prediction, self.prediction_vmstat = frame, vmf.filter(keep)
        self.timings.update(times)
        when = time.strftime("%H:%M:%S")
        self._prediction_subtitle = [
            f"captured at {when}; node 0; capture {times['capture']:.1f} s, rebuild {times['rebuild']:.1f} s, "
            f"simulated compact_memory {times['compact']:.2f} s"
            + (f", real compact_memory {times['real']:.2f} s" if "real" in times else "")]
        self.prediction_table.value = self._prediction_html()
        self.predict_status.value = ("done: the real compact_memory ran; its result is beside the prediction"
                                     if real else "done (simulated only; this machine was not changed)")
        self._redraw("prediction")
        return frame

    def _prediction_html(self) -> str:
        p = self.prediction
        assert p is not None
        tot = (p.with_columns(pages=pl.col("nr_free") * (pl.lit(2) ** pl.col("order")))
               .group_by("state", "zone", maintain_order=True)
               .agg(free_pages=pl.col("pages").sum(),
                    order9_blocks=pl.col("pages").filter(pl.col("order") >= 9).sum() // 512))
        rows = "".join(f"<tr><td>{html.escape(s)}</td><td>{html.escape(z)}</td><td>{f:,}</td><td>{b:,}</td></tr>"
                       for s, z, f, b in tot.iter_rows())
        vm = self.prediction_vmstat
        vrows = "".join("<tr>" + "".join(f"<td>{html.escape(str(v if v is not None else '-'))}</td>" for v in r)
                        + "</tr>" for r in vm.iter_rows()) if vm is not None else ""
        vhead = "".join(f"<th>{html.escape(c)}</th>" for c in (vm.columns if vm is not None else []))
        return ("<table><tr><th>state</th><th>zone</th><th>free pages</th><th>free 2 MiB blocks</th></tr>"
                f"{rows}</table><br><b>vmstat deltas</b><table><tr>{vhead}</tr>{vrows}</table>")

    # ------------------------------------------------------------ saving
    def save(self, dir: str | os.PathLike | None = None, *, overwrite: bool = False) -> Path:
        """Write the kept samples as a snapshot series folder (one snapshot folder per
        sample, and the history as parquet), atomically; returns its path (default
        ``mmkit-monitor-<time>``). Read it back with :func:`mmkit.snapshot.load_series`."""
        if not len(self._history):
            raise ParameterError("save: no samples yet; press Start or Sample now first")
        path = Path(dir) if dir else Path(time.strftime("mmkit-monitor-%Y%m%d-%H%M%S"))
        out = self._history.save(path, overwrite=overwrite)
        self.status.value = f"saved {len(self._history)} samples to {html.escape(str(out))}"
        return out
