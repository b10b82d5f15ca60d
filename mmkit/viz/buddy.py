"""``/proc/buddyinfo`` as a chart: free blocks by order per zone, variants side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import altair as alt
import numpy as np
import polars as pl

from mmkit.errors import ParameterError
from mmkit.model.kinds import PAGE_SIZE
from mmkit.viz import vl
from mmkit.viz.inputs import check_budget, check_choice
from mmkit.viz.theme import variant_scale_dict


def _memory_rows(mem: Any, label: str) -> pl.DataFrame:
    names = [str(z) for z in mem.zone_names]
    nr_free = np.asarray(mem.nr_free, dtype=np.int64)
    present = getattr(mem, "zone_present", None)
    nodes = getattr(mem, "zone_nodes", None)
    rows = []
    for z, name in enumerate(names):
        if present is not None and int(present[z]) == 0:
            continue  # frag_show_print walks populated zones only
        zone = name if nodes is None or len(set(nodes)) == 1 else f"node {nodes[z]} {name}"
        for o in range(nr_free.shape[1]):
            rows.append((label, zone, o, int(nr_free[z, o])))
    return pl.DataFrame(rows, schema={"variant": pl.String, "zone": pl.String, "order": pl.Int64,
                                      "nr_free": pl.Int64}, orient="row")


def buddyinfo_frame(obj: Any) -> tuple[pl.DataFrame, str]:
    """``variant, zone, order, nr_free`` for a Result (each variant's final state), a
    Memory, a Snapshot or a snapshot folder; and a line saying what it shows."""
    from mmkit.model.memory import Memory
    from mmkit.result import Result
    from mmkit.snapshot import Snapshot, load

    if isinstance(obj, Result):
        zt = obj.zone_timeline
        last = zt.group_by("variant").agg(pl.col("tick").max().alias("last"))
        fin = zt.join(last, on="variant").filter(pl.col("tick") == pl.col("last"))
        present = {v: {n for n, p in zip(m.zone_names, m.zone_present) if p > 0} for v, m in obj.memories.items()}
        orders = sorted(int(c[6:]) for c in zt.columns if c.startswith("free_o"))
        df = fin.unpivot(index=["variant", "zone"], on=[f"free_o{o}" for o in orders],
                         variable_name="order", value_name="nr_free").with_columns(
            order=pl.col("order").str.slice(6).cast(pl.Int64), nr_free=pl.col("nr_free").cast(pl.Int64))
        keep = [(v, z) for v, z in df.select("variant", "zone").unique().rows() if z in present.get(v, {z})]
        df = df.join(pl.DataFrame(keep, schema=["variant", "zone"], orient="row"), on=["variant", "zone"])
        i = obj.info
        return df, f"final state; workload {i['workload']}, {i['memory']}, {i['ticks']} ticks, seed {i['seed']}"
    if isinstance(obj, Memory):
        label = getattr(obj.variant, "name", None) or "memory"
        return _memory_rows(obj, label), f"{obj.nr_pages * PAGE_SIZE / 2**30:.1f} GiB Memory"
    if isinstance(obj, (str, Path)):
        obj = load(obj)
    if isinstance(obj, Snapshot):
        bi = obj.buddyinfo
        multi = bi["node"].n_unique() > 1
        df = bi.select(
            variant=pl.lit(obj.kernel_release or "snapshot"),
            zone=(pl.lit("node ") + pl.col("node").cast(pl.String) + pl.lit(" ") + pl.col("zone")) if multi else pl.col("zone"),
            order=pl.col("order").cast(pl.Int64), nr_free=pl.col("nr_free").cast(pl.Int64))
        return df, f"snapshot {obj.path}"
    raise ParameterError(
        f"obj: expected an mmkit.Result, a Memory, a Snapshot or a snapshot folder, got {type(obj).__name__}")


def buddyinfo(obj: Any, zone: str | None = None) -> alt.FacetChart:
    """Free blocks by order per zone (``/proc/buddyinfo``); for a Result, every variant's
    final state side by side.

    Parameters
    ----------
    obj : Result, Memory, Snapshot, str or os.PathLike
        A Result from :func:`mmkit.compare` or :func:`mmkit.simulate` (each variant's
        state at its last tick), a Memory (synthetic, a run's final memory, or rebuilt
        from a snapshot), a Snapshot from :func:`mmkit.snapshot.load`, or the path of a
        snapshot folder (loaded here).
    zone : str, optional
        One zone name to draw (default: every populated zone, one panel each). Where
        the zones of several NUMA nodes are drawn, a zone is named ``"node N Zone"``.

    Returns
    -------
    altair.FacetChart
        One panel per zone, a bar per order and variant (a Memory is labelled by its
        variant, a Snapshot by its kernel release): ``nr_free``, the free blocks of
        2^order pages, on a symlog scale; the tooltip adds the MiB they hold. The
        chart's data is the polars frame ``variant, zone, order, nr_free, free_mib``.

    Raises
    ------
    ParameterError
        ``obj`` is none of the kinds above, or ``zone`` is not one of its zones.
    SnapshotError
        A snapshot folder given by its path cannot be loaded.

    Notes
    -----
    The counts are ``zone->free_area[order].nr_free``, what ``frag_show_print``
    (``mm/vmstat.c``) prints in ``/proc/buddyinfo``: populated zones only, one count per
    order (0 to 10 on x86-64). A Result's come from its ``zone_timeline`` (``free_o0`` ..
    ``free_o10``) at each variant's last tick, a Memory's from its free lists
    (``Memory.nr_free``), a Snapshot's from its ``buddyinfo`` file as the kernel wrote it.

    Examples
    --------
    >>> snap = mmkit.snapshot.load("data/fragmented")
    >>> chart = mmkit.viz.buddyinfo(snap, zone="Normal")
    >>> type(chart).__name__
    'FacetChart'
    >>> chart.title["text"]
    'Free blocks by order per zone (buddyinfo)'
    >>> chart.data.filter(order=9)["nr_free"].item()  # no free 2 MiB block left in Normal
    0
    """
    df, what = buddyinfo_frame(obj)
    zones = df["zone"].unique(maintain_order=True).to_list()
    if zone is not None:
        zone = check_choice("zone", zone, zones)
        df = df.filter(pl.col("zone") == zone)
        zones = [zone]
    names = df["variant"].unique(maintain_order=True).to_list()
    df = df.with_columns(free_mib=(pl.col("nr_free") * (pl.lit(PAGE_SIZE) * (pl.lit(2) ** pl.col("order")))) / 2**20)
    check_budget([df], "buddyinfo")
    top = max(int(df["nr_free"].max() or 0), 1)
    ticks = [0] + [10**e for e in range(1, len(str(top)) + 1) if 10 ** (e - 1) <= top]
    legend = "variant" if what.startswith("final state") else "memory"
    spec = vl.unit(mark={"type": "bar"}, width=max(180, 560 // max(len(zones), 1)), height=220, encoding={
        "x": vl.field("order", "O", title="order (block of 2^order pages)", axis={"labelAngle": 0}),
        "xOffset": vl.field("variant", "N", sort=names),
        "y": vl.field("nr_free", "Q", title="free blocks (nr_free, symlog scale)", scale={"type": "symlog"},
                      axis={"values": ticks, "labelExpr": "format(datum.value, ',')"}),
        "color": vl.field("variant", "N", scale=variant_scale_dict(names), sort=names, title=legend),
        "tooltip": [vl.tip("variant", "N"), vl.tip("zone", "N"), vl.tip("order", "O"),
                    vl.tip("nr_free", "Q", title="nr_free"), vl.tip("free_mib", "Q", title="free MiB", format=",.1f")],
    })
    column = vl.field("zone", "N", sort=zones, title=None, header={"labelFontWeight": "bold"})
    return vl.FacetChart(data=df, spec=spec, facet={"column": column},
                          title=vl.title("Free blocks by order per zone (buddyinfo)", [what]))
