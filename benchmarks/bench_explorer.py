"""The Explorer's warm latency from Run to updated charts, split into simulation
(``mmkit.compare``) and chart building (the five views and the pageblock table built and
put in their output areas; each press is checked to have redrawn them), for the default
scenario (review-04 at its own size, 3 variants, its ticks) and for a 0.5 GiB machine;
then each chart's share of the chart time. Target: 300 ms.

Run: python benchmarks/bench_explorer.py [--repeat 5]"""

from __future__ import annotations

import argparse
import statistics
import time

import mmkit
from mmkit.widgets import Explorer
from mmkit.widgets.explorer import CHARTS

TARGET = 0.300


def shown(ex: Explorer) -> dict[str, str]:
    """The HTML each output area shows."""
    return {name: "".join(o["data"]["text/html"] for o in out.outputs) for name, out in ex.outputs.items()}


def latency(ex: Explorer, repeat: int) -> dict[str, float]:
    """Median seconds of ``repeat`` presses of Run, after one warm-up press; each press
    must give a new result and new chart objects, drawn anew in every output area."""
    ex.run_button.click()
    runs = []
    for _ in range(repeat):
        result, charts, html = ex.result, dict(ex.charts), shown(ex)
        t = time.perf_counter()
        ex.run_button.click()
        total = time.perf_counter() - t
        if ex.result is None or ex.progress.bar_style != "success":
            raise SystemExit(f"run failed: {ex.status.value}")
        now = shown(ex)
        stale = [n for n in CHARTS if ex.charts[n] is charts[n] or (n != "table" and now[n] == html[n])]
        if ex.result is result or stale:
            raise SystemExit(f"Run did not redraw {', '.join(stale) or 'anything'}")
        runs.append({**ex.timings, "total": total})
    return {k: statistics.median(r[k] for r in runs) for k in ("simulate", "charts", "total")}


def per_chart(ex: Explorer, repeat: int) -> dict[str, float]:
    out = {}
    for name in (*CHARTS, "pageblock"):
        ts = []
        for _ in range(repeat):
            t = time.perf_counter()
            ex._refresh(name)
            ts.append(time.perf_counter() - t)
        out[name] = statistics.median(ts)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    mmkit.compare(workload="review-04", gib=0.25, ticks=10, seed=1)  # numba cache loaded
    for label, kw in (("default scenario", {}), ("0.5 GiB machine", {"gib": 0.5})):
        ex = Explorer(**kw)
        wl = ex.controls["workload"].value
        size, ticks, nv = ex.controls["gib"].value, ex.controls["ticks"].value, len(ex.controls["variants"].value)
        m = latency(ex, args.repeat)
        verdict = "meets" if m["total"] <= TARGET else "misses"
        print(f"{label}: {wl}, {size:g} GiB, {ticks} ticks, {nv} variants (median of {args.repeat} warm runs)")
        print(f"  Run -> charts updated: {1000 * m['total']:7.0f} ms  ({verdict} the {1000 * TARGET:.0f} ms target)")
        print(f"    simulation (compare): {1000 * m['simulate']:7.0f} ms")
        print(f"    chart building:       {1000 * m['charts']:7.0f} ms")
        for name, s in per_chart(ex, args.repeat).items():
            print(f"      {name:14s} {1000 * s:6.0f} ms")


if __name__ == "__main__":
    main()
