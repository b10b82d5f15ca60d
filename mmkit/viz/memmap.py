"""Physical memory as a picture: one cell per pageblock (or per run of pageblocks on large
machines), coloured by the dominant page owner, mixedness or migratetype; faults on top."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import altair as alt
import numpy as np
import polars as pl

from mmkit.errors import ParameterError
from mmkit.model.kinds import (
    MIGRATETYPE_NAMES,
    NR_KINDS,
    PAGE_SIZE,
    PAGEBLOCK_NR_PAGES,
    PAGEBLOCK_ORDER,
    MigrateType,
    PageKind,
)
from mmkit.result import natural_migratetype
from mmkit.viz import vl
from mmkit.viz.inputs import (
    MAX_ROWS,
    check_budget,
    check_choice,
    check_int,
    check_variants,
)
from mmkit.viz.theme import CHART_WIDTH, FAULT_MARK_COLOR, kind_scale_dict, migratetype_scale_dict

COLORS = ("kind", "mixed", "migratetype")
KIND_NAMES = [k.name.lower() for k in PageKind]
_KIND_ARRAY = np.array(KIND_NAMES, dtype=object)
_MIGRATETYPE_ARRAY = np.array(MIGRATETYPE_NAMES, dtype=object)
PAGEBLOCK_MIB = PAGEBLOCK_NR_PAGES * PAGE_SIZE >> 20
PICK = "cell"  # the click selection on the map: a point selection on the fields map, cell
CELLS_VIEW = "mmkit_map_cells"  # the view (the cells layer) the selection listens to
NOT_OWNED = (PageKind.HOLE, PageKind.RESERVED, PageKind.FREE, PageKind.UNINIT, PageKind.ISOLATED_FREE,
             PageKind.PCP)


@dataclass
class Pageblocks:
    """Per pageblock of one memory: page counts by kind, migratetype, mixed, zone."""

    label: str
    counts: np.ndarray  # int64 [nb, NR_KINDS]
    migratetype: np.ndarray  # int64 [nb]
    mixed: np.ndarray  # bool [nb]
    zone: list[str]

    @property
    def nr(self) -> int:
        return int(self.counts.shape[0])


def pageblocks_of_memory(mem: Any, label: str | None = None) -> Pageblocks:
    """Pageblock summary of a Memory (a pageblock is mixed when it holds a page whose
    natural migratetype is not the block's; movable pages in a CMA block are not)."""
    n, nb = mem.nr_pages, mem.nr_pageblocks
    blocks = np.arange(n, dtype=np.int64) >> PAGEBLOCK_ORDER
    counts = np.bincount(blocks * NR_KINDS + mem.kind.astype(np.int64), minlength=nb * NR_KINDS)
    counts = counts[: nb * NR_KINDS].reshape(nb, NR_KINDS)
    mts = (np.asarray(mem.pb_flags) & 7).astype(np.int64)
    zsm = bool(getattr(mem.variant, "zsmalloc_movable", False))
    nat = natural_migratetype(zsm)
    odd_kind = (nat[None, :] >= 0) & (nat[None, :] != mts[:, None])
    odd_kind &= ~((mts[:, None] == MigrateType.CMA) & (nat[None, :] == MigrateType.MOVABLE))
    mixed = ((counts > 0) & odd_kind).any(axis=1)
    zone = [""] * nb
    for z, name in enumerate(mem.zone_names):
        b0 = int(mem.zone_start[z]) >> PAGEBLOCK_ORDER
        b1 = (int(mem.zone_end[z]) - 1) >> PAGEBLOCK_ORDER
        zone[b0:b1 + 1] = [name] * (b1 + 1 - b0)
    if label is None:
        label = getattr(mem.variant, "name", None) or "memory"
    return Pageblocks(label, counts, mts, mixed, zone)


def pageblocks_of_result(result: Any, variant: str) -> Pageblocks:
    """Pageblock summary of one variant's final memory, from ``Result.pageblocks``."""
    pb = result.pageblocks.filter(pl.col("variant") == variant).sort("pageblock")
    counts = pb.select(KIND_NAMES).to_numpy().astype(np.int64)
    mt_index = {n: i for i, n in enumerate(MIGRATETYPE_NAMES)}
    mts = np.array([mt_index[m] for m in pb["migratetype"].to_list()], dtype=np.int64)
    return Pageblocks(variant, counts, mts, pb["mixed"].to_numpy().astype(bool), pb["zone"].to_list())


def pageblocks_of_variants(result: Any, variants: list[str]) -> list[Pageblocks]:
    """:func:`pageblocks_of_result` of each of ``variants``, reading ``Result.pageblocks``
    once."""
    pb = result.pageblocks
    counts_all = pb.select(KIND_NAMES).to_numpy().astype(np.int64)
    mt_index = {n: i for i, n in enumerate(MIGRATETYPE_NAMES)}
    mts_all = np.array([mt_index[m] for m in pb["migratetype"].to_list()], dtype=np.int64)
    mixed_all = pb["mixed"].to_numpy().astype(bool)
    zone_all = np.array(pb["zone"].to_list(), dtype=object)
    block_all = pb["pageblock"].to_numpy()
    variant_all = np.array(pb["variant"].to_list(), dtype=object)
    out = []
    for v in variants:
        idx = np.flatnonzero(variant_all == v)
        idx = idx[np.argsort(block_all[idx], kind="stable")]
        out.append(Pageblocks(v, counts_all[idx], mts_all[idx], mixed_all[idx], zone_all[idx].tolist()))
    return out


def _fault_cells(result: Any, variants: list[str], bin_blocks: int) -> dict[str, dict[int, tuple[int, str]]]:
    """Faults per cell of each variant: variant -> cell -> (count, the most frequent
    fault with the rule that decided it)."""
    from mmkit.result import FAULTS

    out: dict[str, dict[int, tuple[int, str]]] = {v: {} for v in variants}
    ev = result.events.filter(pl.col("variant").is_in(variants) & pl.col("event").is_in(list(FAULTS)))
    if ev.height == 0:
        return out
    per = (ev.with_columns(cell=pl.col("pfn") // (PAGEBLOCK_NR_PAGES * bin_blocks))
           .group_by("variant", "cell", "event", "rule").agg(pl.len().alias("k"))
           .sort(["variant", "cell", "k", "event"], descending=[False, False, True, False])
           .group_by("variant", "cell", maintain_order=True)
           .agg(pl.col("k").sum().alias("n"), pl.col("event").first(), pl.col("rule").first()))
    for v, c, n, e, r in per.iter_rows():
        out[v][int(c)] = (int(n), f"{e} ({r})" if r else e)
    return out


def _grid(cells: int) -> int:
    """Cells per row: a power of two giving a picture between square and twice as wide
    as tall, so that a row spans a power-of-two range of physical addresses."""
    return int(max(8, 1 << int(np.floor(np.log2(np.sqrt(2 * max(cells, 1)))))))


def map_frame(pbs: Pageblocks, bin_blocks: int, faults: dict[int, tuple[int, str]] | None = None) -> pl.DataFrame:
    """One row per cell of ``bin_blocks`` pageblocks (cells that are all hole dropped):
    ``map, cell, kind, migratetype, mixed, zone, pages, faults, fault``. The cell's place
    in the picture is computed in the chart from ``cell``."""
    nb = pbs.nr
    ncell = -(-nb // bin_blocks)
    pad = ncell * bin_blocks - nb
    counts = np.concatenate([pbs.counts, np.zeros((pad, NR_KINDS), np.int64)]).reshape(ncell, bin_blocks, NR_KINDS)
    csum = counts.sum(axis=1)
    live = csum.sum(axis=1) - csum[:, PageKind.HOLE] > 0
    owned = csum.copy()
    owned[:, PageKind.HOLE] = -1
    dominant = owned.argmax(axis=1)
    block_live = np.concatenate([pbs.counts.sum(axis=1) - pbs.counts[:, PageKind.HOLE] > 0, np.zeros(pad, bool)])
    block_live = block_live.reshape(ncell, bin_blocks)
    mts = np.concatenate([pbs.migratetype, np.zeros(pad, np.int64)]).reshape(ncell, bin_blocks)
    nmt = len(MIGRATETYPE_NAMES)
    votes = np.bincount((np.arange(ncell)[:, None] * nmt + mts)[block_live], minlength=ncell * nmt)
    mt = votes.reshape(ncell, nmt).argmax(axis=1)
    mixed = np.concatenate([pbs.mixed, np.zeros(pad, bool)]).reshape(ncell, bin_blocks)
    mixed_share = (mixed & block_live).sum(axis=1) / np.maximum(block_live.sum(axis=1), 1)
    sel = np.flatnonzero(live)
    # "pages": the three largest owners of the cell with their page counts
    top = np.argsort(-csum[sel], axis=1, kind="stable")[:, :3]
    top_counts = np.take_along_axis(csum[sel], top, axis=1)
    K = KIND_NAMES
    pages = []
    for (a, b, c), (x, y, z) in zip(top.tolist(), top_counts.tolist()):  # counts in falling order
        pages.append(f"{K[a]} {x}, {K[b]} {y}, {K[c]} {z}" if z > 0 else f"{K[a]} {x}, {K[b]} {y}" if y > 0
                     else f"{K[a]} {x}" if x > 0 else "")
    nfaults = np.zeros(ncell, np.int64)
    fault = np.full(ncell, "", dtype=object)
    for c, (n, f) in (faults or {}).items():
        if 0 <= c < ncell:
            nfaults[c], fault[c] = n, f
    zone = np.array(pbs.zone + [""] * pad, dtype=object)
    return pl.DataFrame({
        "map": [pbs.label] * sel.size,
        "cell": sel,
        "kind": _KIND_ARRAY[dominant[sel]].tolist(),
        "migratetype": _MIGRATETYPE_ARRAY[mt[sel]].tolist(),
        "mixed": mixed_share[sel].round(3),
        "zone": zone[sel * bin_blocks].tolist(),
        "pages": pages,
        "faults": nfaults[sel],
        "fault": fault[sel].tolist(),
    }, schema={"map": pl.String, "cell": pl.Int64, "kind": pl.String, "migratetype": pl.String, "mixed": pl.Float64,
               "zone": pl.String, "pages": pl.String, "faults": pl.Int64, "fault": pl.String})


def memory_map(obj: Any, color: str = "kind", variant: Any = None, max_cells: int = 4000, *,
               highlight: int | None = None) -> alt.FacetChart:
    """Physical memory as a picture, lowest address at the top left: one cell per
    pageblock, coloured by its owner, its mixedness or its migratetype; a Result's
    faults marked.

    Parameters
    ----------
    obj : Memory or Result
        A Memory (synthetic, a run's final memory, or rebuilt from a snapshot with
        ``Memory.from_snapshot``), or a Result from :func:`mmkit.compare` or
        :func:`mmkit.simulate` (each variant's final memory, one map each).
    color : {"kind", "mixed", "migratetype"}
        What a cell's colour says: "kind" the dominant real owner of its pages (holes
        aside), "mixed" whether the pageblock is mixed (the share of mixed pageblocks
        when a cell holds several), "migratetype" the pageblock's migratetype (the one
        most of the cell's pageblocks have). Default "kind".
    variant : str, Variant or list of them, optional
        With a Result only: the variants to draw (default None: all of them).
    max_cells : int
        The most cells drawn over all the maps, 16..5000 (default 4000). When the
        pageblocks are more, a cell is a run of 2^k pageblocks, the smallest k that
        fits.
    highlight : int, optional
        A pageblock number to outline in black.

    Returns
    -------
    altair.FacetChart
        One map per memory (three a row), a cell per pageblock (2 MiB) or run of
        pageblocks; cells that are all hole are left out. The tooltip gives the
        cell's pageblocks, start pfn, zone, its three largest owners with their page
        counts, migratetype, mixed share and faults. For a Result, black crosses mark
        the cells where faults happened (sized by their count; the tooltip names the
        most frequent fault and the rule that decided it). A click picks a cell (the
        point selection ``"cell"`` on the fields ``map`` and ``cell``).

    Raises
    ------
    ParameterError
        ``obj`` is neither a Memory nor a Result; ``color`` is not one of the three;
        ``max_cells`` is not an integer in 16..5000; ``variant`` is given with a
        Memory, or names no variant of the Result; ``highlight`` is not a pageblock
        number of this memory.

    Notes
    -----
    A pageblock is ``pageblock_nr_pages`` (512) pages, 2 MiB, and its migratetype the
    low bits of its ``pageblock_flags`` word, as ``get_pageblock_migratetype`` reads
    them (``get_pfnblock_flags_mask``, ``mm/page_alloc.c``). A pageblock is mixed when it holds a page whose natural
    migratetype is not the block's (movable pages in a CMA block are not), as
    ``/proc/pagetypeinfo``'s "Number of mixed blocks" counts them with page_owner
    (``pagetypeinfo_showmixedcount_print``, ``mm/page_owner.c``). Owners are the
    model's truth (``Memory.kind``), not what a variant's page-type tests report. A
    Result's maps come from ``Result.pageblocks`` and its fault marks from
    ``Result.events``.

    Examples
    --------
    >>> mem = mmkit.Memory.synthetic(mib=64, variant="v6.18")
    >>> chart = mmkit.viz.memory_map(mem, color="migratetype")
    >>> type(chart).__name__
    'FacetChart'
    >>> chart.data.height  # a cell per pageblock: 64 MiB is 32 pageblocks of 2 MiB
    32
    >>> chart.data["migratetype"].unique().to_list()  # as after boot: all MOVABLE
    ['Movable']
    """
    from mmkit.model.memory import Memory
    from mmkit.result import Result

    color = check_choice("color", color, COLORS)
    max_cells = check_int("max_cells", max_cells, 16, MAX_ROWS)
    maps: list[tuple[Pageblocks, Any]] = []
    if isinstance(obj, Result):
        names = check_variants(obj, variant)
        maps.extend(zip(pageblocks_of_variants(obj, names), names))
        i = obj.info
        what = f"final state of each variant; workload {i['workload']}, {i['memory']}, {i['ticks']} ticks, seed {i['seed']}"
    elif isinstance(obj, Memory):
        if variant is not None:
            raise ParameterError("variant: a Memory has one state; give variant= only with a Result")
        maps.append((pageblocks_of_memory(obj), None))
        what = f"{obj.nr_pages * PAGE_SIZE / 2**30:.1f} GiB, {obj.nr_pageblocks} pageblocks"
        if obj.meta.get("snapshot_path"):
            what += f", rebuilt from snapshot {obj.meta['snapshot_path']}"
            if obj.meta.get("kernel_release"):
                what += f" (Linux {obj.meta['kernel_release']})"
    else:
        raise ParameterError(f"obj: expected a Memory or an mmkit.Result, got {type(obj).__name__}")
    nb = max(p.nr for p, _ in maps)
    if highlight is not None:
        highlight = check_int("highlight", highlight, 0, nb - 1)
    per_map = max_cells // len(maps)
    if per_map < 1:
        raise ParameterError(f"max_cells: {max_cells} cells cannot hold {len(maps)} maps (one per variant); "
                             f"raise max_cells to at least {len(maps)} or name fewer variants with variant=")
    bin_blocks = 1
    while -(-nb // bin_blocks) > per_map:
        bin_blocks *= 2
    faults = _fault_cells(obj, [v for _, v in maps], bin_blocks) if isinstance(obj, Result) else {}
    df = pl.concat([map_frame(p, bin_blocks, faults.get(v)) for p, v in maps])
    ncell = -(-nb // bin_blocks)
    cols = _grid(ncell)
    nrows = -(-ncell // cols)
    cell_mib = PAGEBLOCK_MIB * bin_blocks
    row_gib = cols * cell_mib / 1024
    geometry = {
        "x": f"(datum.cell % {cols}) * {cell_mib}", "x2": f"(datum.cell % {cols} + 1) * {cell_mib}",
        "y": f"floor(datum.cell / {cols}) * {row_gib}", "y2": f"(floor(datum.cell / {cols}) + 1) * {row_gib}",
        "pageblock": f"datum.cell * {bin_blocks}",
        "last_pageblock": f"min(datum.cell * {bin_blocks} + {bin_blocks}, {nb}) - 1",
        "start_pfn": f"'0x' + format(datum.cell * {bin_blocks * PAGEBLOCK_NR_PAGES}, 'x')",
    }
    unit = "pageblock (2 MiB)" if bin_blocks == 1 else f"{cell_mib} MiB cell ({bin_blocks} pageblocks)"
    if color == "kind":
        enc = vl.field("kind", "N", scale=kind_scale_dict(df["kind"].unique().to_list()), title="dominant page owner")
        what_color = "dominant real owner"
    elif color == "migratetype":
        enc = vl.field("migratetype", "N", scale=migratetype_scale_dict(), title="pageblock migratetype")
        what_color = "pageblock migratetype"
    elif bin_blocks == 1:
        geometry["mixedness"] = "datum.mixed > 0 ? 'mixed' : 'not mixed'"
        enc = vl.field("mixedness", "N", title="pageblock",
                       scale={"domain": ["mixed", "not mixed"], "range": ["#D55E00", "#E5E5E5"]})
        what_color = "mixed pageblocks (pages of another migratetype inside)"
    else:
        enc = vl.field("mixed", "Q", title="mixed pageblocks (share)",
                       scale={"domain": [0, 1], "scheme": "viridis", "reverse": True})
        what_color = "share of mixed pageblocks (pages of another migratetype inside)"
    check_budget([df], "memory_map")
    tip = [vl.tip("map", "N", title="memory"), vl.tip("pageblock", "Q", title="first pageblock"),
           vl.tip("last_pageblock", "Q", title="last pageblock"), vl.tip("start_pfn", "N", title="start pfn"),
           vl.tip("zone", "N"), vl.tip("kind", "N", title="dominant owner"),
           vl.tip("pages", "N", title="pages by kind"), vl.tip("migratetype", "N"),
           vl.tip("mixed", "Q", title="mixed share", format=".2f"),
           vl.tip("faults", "Q"), vl.tip("fault", "N", title="most frequent fault (rule)")]
    x = vl.field("x", "Q", title="offset in row (MiB)", scale={"nice": False, "zero": True, "domain": [0, cols * cell_mib]})
    y = vl.field("y", "Q", title="physical address (GiB)",
                 scale={"reverse": True, "nice": False, "zero": True, "domain": [0, nrows * row_gib]})
    x2, y2 = {"field": "x2"}, {"field": "y2"}
    # every layer computes the cell geometry itself, from the cell number
    calc = [{"calculate": expr, "as": name} for name, expr in geometry.items()]
    cells = vl.unit(mark={"type": "rect", "strokeWidth": 0}, name=CELLS_VIEW, transform=calc, encoding={
        "x": x, "x2": x2, "y": y, "y2": y2, "color": enc, "tooltip": tip,
        "opacity": {"condition": {"param": PICK, "value": 1.0}, "value": 0.35},
    })
    layers = [cells]
    has_faults = bool(df["faults"].sum() > 0)
    if has_faults:
        layers.append(vl.unit(
            mark={"type": "point", "shape": "cross", "filled": True, "color": FAULT_MARK_COLOR, "stroke": "white",
                  "strokeWidth": 0.5},
            transform=[*calc, {"filter": "datum.faults > 0"},
                       {"calculate": "(datum.x + datum.x2) / 2", "as": "xm"},
                       {"calculate": "(datum.y + datum.y2) / 2", "as": "ym"}],
            encoding={"x": vl.field("xm", "Q"), "y": vl.field("ym", "Q"), "tooltip": tip,
                      "size": vl.field("faults", "Q", title="faults in cell",
                                       scale={"type": "sqrt", "range": [12, 160], "domainMin": 1})}))
    if highlight is not None:
        layers.append(vl.unit(
            mark={"type": "rect", "fill": None, "stroke": "#000000", "strokeWidth": 2.5},
            transform=[*calc, {"filter": f"datum.cell == {highlight // bin_blocks}"}],
            encoding={"x": x, "x2": x2, "y": y, "y2": y2, "tooltip": tip}))
    per_row = min(len(maps), 3)
    # the legends (owner, faults) take about 300 px of CHART_WIDTH
    width = max(200, (CHART_WIDTH - 300) // per_row - 20)
    height = int(min(480, max(60, width * nrows / cols)))
    subtitle = [f"one cell per {unit}, coloured by {what_color}", what]
    if has_faults:
        subtitle.append("black crosses: cells where faults happened (size: count); click a cell to pick it")
    labels = [p.label for p, _ in maps]
    # the cells' click selection, held by the facet and naming the cells' view, as
    # altair lifts a layer's selection
    pick = vl.selection(PICK, {"type": "point", "fields": ["map", "cell"], "on": "click", "clear": "dblclick"},
                        views=[CELLS_VIEW])
    return vl.FacetChart(
        data=df, spec=vl.LayerChart(layer=layers, width=width, height=height), params=[pick],
        facet=vl.field("map", "N", sort=labels, title=None, header={"labelFontWeight": "bold"}),
        columns=per_row, title=vl.title("Physical memory map", subtitle))
