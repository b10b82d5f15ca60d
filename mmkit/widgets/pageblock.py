"""One pageblock page by page: what each struct page says (flags, _mapcount, mapping,
private) beside what the page really is, and the faults that happened to it."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import polars as pl

from mmkit.errors import ParameterError
from mmkit.model import encodings as E
from mmkit.model.flags import flag_names
from mmkit.model.kinds import (
    MIGRATETYPE_NAMES,
    PAGEBLOCK_NR_PAGES,
    PAGEBLOCK_ORDER,
    PageKind,
)
from mmkit.viz.theme import KIND_COLORS

_MAPCOUNT_NAMES = {
    E.PAGE_BUDDY_MAPCOUNT_VALUE: "PAGE_BUDDY_MAPCOUNT_VALUE",
    E.PAGE_MOVABLE_MAPCOUNT_VALUE_V3_02: "PAGE_MOVABLE_MAPCOUNT_VALUE",
    E.PAGE_BALLOON_MAPCOUNT_VALUE: "PAGE_BALLOON_MAPCOUNT_VALUE",
}
for _name in ("buddy", "offline", "table", "guard", "hugetlb", "slab", "zsmalloc", "unaccepted", "large_kmalloc"):
    _MAPCOUNT_NAMES[E.pgty_store(getattr(E, f"PGTY_{_name}"))] = f"PGTY_{_name}"
_KIND_NAMES = [k.name.lower() for k in PageKind]
_MAPPING_OBJECTS = {E.MAPPING_ID_BALLOON: "balloon", E.MAPPING_ID_ZSMALLOC: "zsmalloc inode"}


def _mapcount(v: int) -> str:
    if v in _MAPCOUNT_NAMES:
        return f"{v} ({_MAPCOUNT_NAMES[v]})"
    return str(v)


def _mapping(v: int) -> str:
    if v == E.MAPPING_NULL:
        return "NULL"
    obj = v >> E.MAPPING_ID_SHIFT
    low = v & E.PAGE_MAPPING_FLAGS
    name = _MAPPING_OBJECTS.get(obj, f"object {obj}")
    bits = {0: "", E.PAGE_MAPPING_ANON: " | PAGE_MAPPING_ANON", E.PAGE_MAPPING_MOVABLE: " | PAGE_MAPPING_MOVABLE",
            E.PAGE_MAPPING_KSM: " | PAGE_MAPPING_KSM"}[low]
    return name + bits


def pageblock_pages(obj: Any, pageblock: int, variant: str | None = None) -> pl.DataFrame:
    """The 512 pages of ``pageblock`` in a Memory, or in a variant's final memory of a
    Result: ``pfn, kind, flags, mapcount, refcount, mapping, private, compound_head,
    events`` (the faults logged at that pfn, with the rule that decided)."""
    from mmkit.model.memory import Memory
    from mmkit.result import Result

    events = None
    if isinstance(obj, Result):
        variant = variant or obj.variants[0]
        if variant not in obj.memories:
            raise ParameterError(f"variant: {variant!r} is not a variant of this result; variants are "
                                 f"{', '.join(obj.variants)}")
        mem = obj.memories[variant]
        events = obj.events.filter(pl.col("variant") == variant)
    elif isinstance(obj, Memory):
        mem = obj
    else:
        raise ParameterError(f"obj: expected a Memory or an mmkit.Result, got {type(obj).__name__}")
    if isinstance(pageblock, bool) or not isinstance(pageblock, (int, np.integer)) or \
            not 0 <= int(pageblock) < mem.nr_pageblocks:
        raise ParameterError(f"pageblock: {pageblock!r} is out of range; allowed integer 0..{mem.nr_pageblocks - 1}")
    start = int(pageblock) << PAGEBLOCK_ORDER
    end = min(start + PAGEBLOCK_NR_PAGES, mem.nr_pages)
    pfns = np.arange(start, end)
    by_pfn: dict[int, list[str]] = {}
    if events is not None:
        ev = events.filter((pl.col("pfn") >= start) & (pl.col("pfn") < end)).sort("tick")
        for pfn, tick, event, rule in ev.select("pfn", "tick", "event", "rule").rows():
            by_pfn.setdefault(pfn, []).append(f"tick {tick}: {event}" + (f" ({rule})" if rule else ""))
    head = mem.lru_next[start:end]
    # the 512 pages of a block share few distinct values: spell each one once
    flags = {f: " ".join(flag_names(f)) for f in set(mem.flags[start:end].tolist())}
    mapcount = {v: _mapcount(v) for v in set(mem.mapcount[start:end].tolist())}
    mapping = {v: _mapping(v) for v in set(mem.mapping[start:end].tolist())}
    return pl.DataFrame({
        "pfn": pfns,
        "kind": [_KIND_NAMES[k] for k in mem.kind[start:end].tolist()],
        "flags": [flags[f] for f in mem.flags[start:end].tolist()],
        "mapcount": [mapcount[v] for v in mem.mapcount[start:end].tolist()],
        "refcount": mem.refcount[start:end].astype(np.int64),
        "mapping": [mapping[v] for v in mem.mapping[start:end].tolist()],
        "private": mem.private[start:end].astype(np.int64),
        "compound_head": [-2 - h if h <= -2 else None for h in head.tolist()],
        "events": ["; ".join(by_pfn[p]) if p in by_pfn else "" for p in pfns.tolist()],
    }, schema={"pfn": pl.Int64, "kind": pl.String, "flags": pl.String, "mapcount": pl.String,
               "refcount": pl.Int64, "mapping": pl.String, "private": pl.Int64, "compound_head": pl.Int64,
               "events": pl.String})


def pageblock_html(obj: Any, pageblock: int, variant: str | None = None) -> str:
    """:func:`pageblock_pages` as an HTML table under a one-line summary of the block."""
    from mmkit.result import Result

    df = pageblock_pages(obj, pageblock, variant)
    cols = ["pfn", "kind", "flags", "mapcount", "refcount", "mapping", "private", "compound_head", "events"]
    mem = obj.memories[variant or obj.variants[0]] if isinstance(obj, Result) else obj
    mt = MIGRATETYPE_NAMES[int(mem.pb_flags[pageblock]) & 7]
    counts = df.group_by("kind").len().sort(["len", "kind"], descending=[True, False])  # ties: by name
    mix = ", ".join(f"{k} {n}" for k, n in counts.rows())
    nfault = int((df["events"] != "").sum())
    who = f"variant {html.escape(variant or obj.variants[0])}, " if isinstance(obj, Result) else ""
    head = (f"<div><b>pageblock {pageblock}</b> ({who}pfn {df['pfn'][0]:#x}..{df['pfn'][-1]:#x}, "
            f"migratetype {mt}): {html.escape(mix)}; {nfault} pages with faults</div>")
    rows = []
    swatch = {k: f'<td><span style="display:inline-block;width:9px;height:9px;background:{c};'
                 f'border:1px solid #999;margin-right:4px"></span>{k}</td>' for k, c in KIND_COLORS.items()}
    escaped: dict[Any, str] = {None: ""}
    for r in df.select(cols).iter_rows():
        cells = [f"<td>{r[0]:#x}</td>", swatch.get(r[1]) or f"<td>{html.escape(r[1])}</td>"]
        for v in r[2:]:
            e = escaped.get(v)
            if e is None:
                e = escaped[v] = html.escape(str(v))
            cells.append(f'<td style="padding:0 6px">{e}</td>')
        style = ' style="background:#FBE0D2"' if r[-1] else ""
        rows.append(f"<tr{style}>" + "".join(cells) + "</tr>")
    th = "".join(f'<th style="position:sticky;top:0;background:#F4F4F4;padding:0 6px">{c}</th>' for c in cols)
    return (head + '<div style="max-height:360px;overflow:auto;font-size:12px">'
            '<table style="border-collapse:collapse;text-align:left;font-family:monospace;white-space:nowrap">'
            f"<thead><tr>{th}</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>")
