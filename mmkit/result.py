"""``Result``: what ``simulate`` / ``compare`` return, as tidy polars frames, plus the
final Memory per variant; saved as parquet + JSON and loaded back without pickles."""

from __future__ import annotations

import functools
import html
import json
import math
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from mmkit.engine import state as _st
from mmkit.engine import workload as W
from mmkit.engine.kpageflags import kpf_balloon_misreports
from mmkit.errors import ParameterError, SnapshotError
from mmkit.inputs import check_out_folder, check_path
from mmkit.metrics import fragmentation_index, unusable_free_index
from mmkit.model.kinds import (
    MIGRATETYPE_NAMES,
    PAGEBLOCK_ORDER,
    MigrateType,
    PageKind,
)
from mmkit.model.memory import Memory
from mmkit.model.samples import SAMPLE_NAMES
from mmkit.semantics import RULE_FIELDS, Variant

INDEX_ORDERS = (2, 3, 9)
FAULTS = tuple(_st.EVENT_NAMES[e] for e in _st.FAULT_EVENTS)
KIND_NAMES = [k.name.lower() for k in PageKind]
RESULT_FORMAT = 1

# Result.contiguity: the whole machine's contiguity (mmkit.metrics.contiguity.contiguity_row)
# at the start, every ``ticks // CONTIGUITY_POINTS`` ticks and at the end of each run
CONTIGUITY_POINTS = 8
CONTIGUITY_SCHEMA = {"variant": pl.String, "tick": pl.Int64,
                     "ranges_2MiB": pl.Int64, "free_2MiB": pl.Int64, "freeable_2MiB": pl.Int64,
                     "ranges_1GiB": pl.Int64, "free_1GiB": pl.Int64, "freeable_1GiB": pl.Int64,
                     "largest_free_run_blocks": pl.Int64, "largest_freeable_run_blocks": pl.Int64,
                     "unmovable_share": pl.Float64, "blocks_touched_share": pl.Float64}


@dataclass
class RunData:
    """One variant's run, as the engine left it."""

    variant: Variant
    sim: Any
    samples: np.ndarray
    sample_free: np.ndarray
    sample_vm: np.ndarray
    sample_faults: np.ndarray
    parts: Any = None  # its frames, made by run_parts (compare makes them in the run's thread)
    contiguity: list = field(default_factory=list)  # (tick, contiguity_row) at a few ticks
    ticks_done: int | None = None  # the ticks run (fewer than asked when the run was stopped)


def _main_zone(mem: Memory) -> int:
    """The zone with the most present pages: the one whose indices the timeline shows."""
    present = mem.zone_present if mem.zone_present.any() else mem.zone_end - mem.zone_start
    return int(np.argmax(present))


def _ratio(ok: int, fail: int) -> float:
    return ok / (ok + fail) if ok + fail else float("nan")


def _timeline(run: RunData) -> tuple[pl.DataFrame, pl.DataFrame]:
    mem = run.sim.mem
    z0 = _main_zone(mem)
    vm_idx = {n: i for i, n in enumerate(_st.VMSTAT_NAMES)}
    frames = (mem.kind != PageKind.HOLE) & (mem.kind != PageKind.UNINIT)
    nblocks = int(_per_block(frames, mem.nr_pageblocks).any(axis=1).sum())
    rows, zrows = [], []
    for i in range(run.samples.shape[0]):
        sm, free, vm, fl = run.samples[i], run.sample_free[i], run.sample_vm[i], run.sample_faults[i]
        node = free.sum(axis=0)
        row = {"variant": run.variant.name, "tick": int(sm[W.SM_TICK]),
               "free_pages": int((node << np.arange(node.shape[0])).sum())}
        for o in range(node.shape[0]):
            row[f"free_o{o}"] = int(node[o])
        row["zone"] = mem.zone_names[z0]
        for o in INDEX_ORDERS:
            row[f"unusable_{o}"] = unusable_free_index(free[z0].tolist(), o) / 1000
            row[f"fragindex_{o}"] = fragmentation_index(free[z0].tolist(), o) / 1000
        for i, name in enumerate(SAMPLE_NAMES):  # the sample's own counts (mmkit.model.samples)
            if i != W.SM_TICK:
                row[name] = int(sm[i])
        row["pageblocks"] = nblocks
        row["thp_success"] = _ratio(int(vm[vm_idx["thp_fault_alloc"]]), int(vm[vm_idx["thp_fault_fallback"]]))
        row["order2_success"] = _ratio(int(vm[vm_idx["order2_alloc"]]), int(vm[vm_idx["order2_fail"]]))
        row["order3_success"] = _ratio(int(vm[vm_idx["order3_alloc"]]), int(vm[vm_idx["order3_fail"]]))
        for e in _st.FAULT_EVENTS:
            row[_st.EVENT_NAMES[e]] = int(fl[e])
        # KPF_BALLOON misreports are a state, not an event: pages misreported at this tick
        row["kpf_balloon_misreport"] = int(sm[W.SM_KPF_BALLOON_FALSE_POSITIVE] + sm[W.SM_KPF_BALLOON_FALSE_NEGATIVE])
        for n, v in zip(_st.VMSTAT_NAMES, vm.tolist()):
            row[n] = int(v)
        rows.append(row)
        for z, name in enumerate(mem.zone_names):
            zr = {"variant": run.variant.name, "tick": int(sm[W.SM_TICK]), "zone": name}
            for o in range(free.shape[1]):
                zr[f"free_o{o}"] = int(free[z, o])
            for o in INDEX_ORDERS:
                zr[f"unusable_{o}"] = unusable_free_index(free[z].tolist(), o) / 1000
                zr[f"fragindex_{o}"] = fragmentation_index(free[z].tolist(), o) / 1000
            zrows.append(zr)
    return pl.DataFrame(rows), pl.DataFrame(zrows)


def _per_block(a: np.ndarray, nb: int, fill=0) -> np.ndarray:
    """``a`` (one value per page frame) as an (nb, pageblock_nr_pages) view, padded."""
    n = nb << PAGEBLOCK_ORDER
    if a.shape[0] != n:
        a = np.concatenate([a, np.full(n - a.shape[0], fill, dtype=a.dtype)])
    return a.reshape(nb, 1 << PAGEBLOCK_ORDER)


def natural_migratetype(zsmalloc_movable: bool) -> np.ndarray:
    """The migratetype each page kind is allocated with (gfp_migratetype of its GFP
    flags, the engine's ``alloc_migratetype``), -1 for frames not allocated; zsmalloc
    pages are __GFP_MOVABLE once zsmalloc supports migration (v4.8), unmovable before."""
    mt = np.full(len(PageKind), -1, dtype=np.int64)
    for k in (PageKind.KERNEL, PageKind.PAGETABLE, PageKind.SLAB):
        mt[k] = MigrateType.UNMOVABLE
    mt[PageKind.SLAB_RECLAIMABLE] = MigrateType.RECLAIMABLE
    for k in (PageKind.ANON, PageKind.FILE, PageKind.BALLOON):
        mt[k] = MigrateType.MOVABLE
    mt[PageKind.ZSMALLOC] = MigrateType.MOVABLE if zsmalloc_movable else MigrateType.UNMOVABLE
    return mt


@functools.lru_cache(maxsize=4)
def _mixing(kind_mt: tuple[int, ...]) -> np.ndarray:
    """[block migratetype, kind]: whether a page of that kind makes such a block mixed
    (the engine's ``mixes`` rule, for each of the 8 pb_flags migratetype values)."""
    mixes = getattr(W.mixes, "py_func", W.mixes)
    return np.array([[bool(mixes(bmt, mt)) for mt in kind_mt] for bmt in range(8)], dtype=np.bool_)


def _pageblocks(run: RunData) -> pl.DataFrame:
    mem = run.sim.mem
    nb = mem.nr_pageblocks
    nk = len(PageKind)
    kind_mt = natural_migratetype(bool(mem.variant.zsmalloc_movable))
    mts = (mem.pb_flags & 7).astype(np.int64)
    # each pageblock's frames by kind, as the engine keeps them (Sim.check recounts them)
    counts = mem.pb_nr_kind[:nb, :nk].astype(np.int64)
    # a block is mixed when it holds a page whose natural migratetype is not the block's
    # (movable pages in a CMA block are not): one row per pageblock
    mixed = ((counts > 0) & _mixing(tuple(kind_mt.tolist()))[mts]).any(axis=1)
    zone = np.full(nb, "", dtype=object)
    for z, name in enumerate(mem.zone_names):
        b0, b1 = int(mem.zone_start[z]) >> PAGEBLOCK_ORDER, (int(mem.zone_end[z]) - 1) >> PAGEBLOCK_ORDER
        zone[b0:b1 + 1] = name
    data = {"variant": np.full(nb, run.variant.name, dtype=object), "pageblock": np.arange(nb),
            "start_pfn": np.arange(nb) << PAGEBLOCK_ORDER, "zone": zone,
            "migratetype": np.array(MIGRATETYPE_NAMES, dtype=object)[mts],
            "skip": (mem.pb_flags & 8 != 0), "mixed": mixed}
    for k in PageKind:
        data[k.name.lower()] = counts[:, int(k)]
    return pl.DataFrame(data, schema_overrides={"variant": pl.String, "zone": pl.String, "migratetype": pl.String})


def _events(run: RunData) -> pl.DataFrame:
    ev = run.sim.events()
    rule_names = np.array([*RULE_FIELDS, ""], dtype=object)  # rule -1: none
    return pl.DataFrame({
        "variant": np.full(len(ev), run.variant.name, dtype=object),
        "tick": ev[:, 0], "pfn": ev[:, 1],
        "event": np.array(_st.EVENT_NAMES, dtype=object)[ev[:, 2]],
        "kind": np.array(KIND_NAMES, dtype=object)[ev[:, 3]],
        "rule": rule_names[ev[:, 4]],
        "extra": ev[:, 5],
    }, schema={"variant": pl.String, "tick": pl.Int64, "pfn": pl.Int64, "event": pl.String,
               "kind": pl.String, "rule": pl.String, "extra": pl.Int64})


def run_parts(r: RunData) -> tuple:
    """One run's share of every frame: timeline, zone timeline, pageblocks, events, fault
    rows and vmstat rows."""
    a, b = _timeline(r)
    fc = r.sim.fault_counts()
    # KPF_BALLOON misreports in the final memory, by true kind (stable_page_flags' rule)
    by_kind = np.zeros(256, dtype=np.int64)
    kpf_balloon_misreports(r.sim.A, r.sim.vc, by_kind)
    fc[_st.EV_KPF_BALLOON_MISREPORT] = by_kind[: fc.shape[1]]
    faults = [(r.variant.name, _st.EVENT_NAMES[e], k.name.lower(), int(fc[e, int(k)]))
              for e in _st.FAULT_EVENTS for k in PageKind]
    vm = [(r.variant.name, n, v) for n, v in r.sim.vmstat.items()]
    return a, b, _pageblocks(r), _events(r), faults, vm


# counters that are shares (printed as percents) and kernel indices (0..1, -1: would succeed)
RATIOS = ("thp_success", "order2_success", "order3_success")
INDICES = tuple(f"{i}_{o}" for i in ("unusable", "fragindex") for o in INDEX_ORDERS)


def format_value(counter: str, v: Any) -> str:
    """A counter's value as a table prints it: shares (``RATIOS``, names ending in
    "share") as percents, indices with three decimals, % changes (names ending in " %")
    signed, counts as integers with thousands separators, text unchanged."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "yes" if v else "no"
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if counter in RATIOS or counter.endswith("share"):
        return f"{v:.1%}"
    if counter in INDICES:
        return f"{v:.3f}"
    if counter.endswith(" %"):
        return f"{v:+.1f}%"
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.3f}"


class Table:
    """A polars frame printed and shown in notebooks with each value formatted by its
    counter (``format_value``): ``Result.table``'s before/after table (one row per
    counter, named in its ``counter`` column), or any frame with one column per counter.
    The numbers stay in ``frame`` (its methods and columns are the table's, e.g.
    ``to_dicts``)."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame

    def __getattr__(self, name: str) -> Any:
        if name == "frame":  # not set yet (copy, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.frame, name)

    def __getitem__(self, key: Any) -> Any:
        return self.frame[key]

    def __len__(self) -> int:
        return self.frame.height

    def cells(self) -> list[list[str]]:
        """The header and the rows, as printed."""
        cols = self.frame.columns
        by_row = "counter" in cols
        rows = [[format_value(r["counter"] if by_row and c != "counter" and not c.endswith(" %") else c, r[c])
                 for c in cols] for r in self.frame.iter_rows(named=True)]
        return [cols, *rows]

    def __str__(self) -> str:
        head, *rows = self.cells()
        widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]

        def line(r: list[str]) -> str:
            return "  ".join(x.ljust(w) if i == 0 else x.rjust(w) for i, (x, w) in enumerate(zip(r, widths)))

        return "\n".join([line(head), "  ".join("-" * w for w in widths), *map(line, rows)])

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        head, *rows = self.cells()
        esc = html.escape
        th = "".join(f'<th style="text-align:{"left" if i == 0 else "right"}">{esc(c)}</th>' for i, c in enumerate(head))
        first = "<code>{}</code>" if head[0] == "counter" else "{}"
        body = "".join("<tr>" + "".join(f'<td style="text-align:left">{first.format(esc(x))}</td>' if i == 0
                                        else f'<td style="text-align:right">{esc(x)}</td>' for i, x in enumerate(r))
                       + "</tr>" for r in rows)
        return f'<table class="mmkit-result-table"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


class Result:
    """Frames: ``timeline``, ``zone_timeline``, ``faults``, ``events``, ``vmstat``,
    ``pageblocks``; ``memories`` maps a variant name to its final Memory."""

    FRAMES = ("timeline", "zone_timeline", "faults", "events", "vmstat", "pageblocks", "contiguity")

    def __init__(self, frames: dict[str, pl.DataFrame], memories: dict[str, Memory], info: dict) -> None:
        for name in self.FRAMES:
            setattr(self, name, frames[name])
        self.memories = memories
        self.info = info
        self.variants: list[str] = list(info["variants"])

    # ------------------------------------------------------------ building
    @classmethod
    def build(cls, runs: list[RunData], *, workload: str, params: dict, ticks: int, seed: int,
              memory_desc: str) -> "Result":
        tl, ztl, pb, ev, faults, vm = [], [], [], [], [], []
        cg = [{"variant": r.variant.name, "tick": t, **row} for r in runs for t, row in r.contiguity]
        for r in runs:
            a, b, c, d, f, v = r.parts if r.parts is not None else run_parts(r)
            tl.append(a)
            ztl.append(b)
            pb.append(c)
            ev.append(d)
            faults += f
            vm += v
        frames = {
            "timeline": pl.concat(tl, how="vertical"),
            "zone_timeline": pl.concat(ztl, how="vertical"),
            "pageblocks": pl.concat(pb, how="vertical"),
            "events": pl.concat(ev, how="vertical"),
            "faults": pl.DataFrame(faults, schema=["variant", "fault", "kind", "count"], orient="row"),
            "vmstat": pl.DataFrame(vm, schema=["variant", "counter", "value"], orient="row"),
            "contiguity": pl.DataFrame(cg, schema=CONTIGUITY_SCHEMA) if cg else pl.DataFrame(schema=CONTIGUITY_SCHEMA),
        }
        info = {"format": RESULT_FORMAT, "workload": workload, "params": params, "ticks": ticks, "seed": seed,
                "memory": memory_desc, "variants": [r.variant.name for r in runs],
                "rules": {r.variant.name: r.variant.rules() for r in runs},
                "events_dropped": {r.variant.name: int(r.sim.S.st[_st.ST_NEV_DROPPED]) for r in runs}}
        return cls(frames, {r.variant.name: r.sim.mem for r in runs}, info)

    # ------------------------------------------------------------ views
    def final(self) -> pl.DataFrame:
        """The last timeline row of each variant."""
        return self.timeline.group_by("variant", maintain_order=True).last()

    HEADLINE = ("free_o9", "free_o10", "unusable_9", "fragindex_9", "mixed_blocks", "mixed_movable_blocks",
                "free_blocks", "thp_success", "order2_success", "order3_success", "compact_stall",
                "compact_success", "compact_fail", "compact_migrate_scanned", "compact_free_scanned",
                "compact_isolated", "pgmigrate_success", "pgmigrate_fail", "balloon_migrate",
                "cma_alloc_success", "cma_alloc_fail", "cma_reclaimed", "pgsteal", "pswpout") + FAULTS

    def table(self, counters: tuple[str, ...] | None = None, *, changes: bool = True) -> "Table":
        """The mmtests-style before/after table: counter, each variant's final value and,
        with ``changes``, for every variant after the first (the baseline), its % change.
        The numbers are ``Table.frame`` (polars); the table prints shares as percents and
        counts as integers."""
        fin = self.final()
        names = list(counters or self.HEADLINE)
        base = self.variants[0]
        rows = []
        for c in names:
            if c not in fin.columns:
                raise ParameterError(f"counters: {c!r} is not a timeline column")
            vals = dict(zip(fin["variant"].to_list(), fin[c].to_list()))
            row = {"counter": c}
            for v in self.variants:
                row[v] = float(vals[v]) if vals[v] is not None else float("nan")
            for v in self.variants[1:] if changes else ():
                b = row[base]
                row[f"{v} %"] = (row[v] - b) / abs(b) * 100 if b not in (0, 0.0) and b == b else float("nan")
            rows.append(row)
        return Table(pl.DataFrame(rows))

    def _repr_html_(self) -> str:
        fin = self.final()
        cols = ["variant", "free_o9", "unusable_9", "mixed_movable_blocks", "thp_success",
                "misrouted_putback", "kpf_balloon_false_positive", "cma_skip_false_positive", "list_corruption", "oops"]
        head = "".join(f"<th>{c}</th>" for c in cols)
        body = ""
        for row in fin.select(cols).iter_rows():
            body += "<tr>" + "".join(f"<td>{format_value(c, x)}</td>" for c, x in zip(cols, row)) + "</tr>"
        i = self.info
        return (f"<div><b>mmkit result</b>: workload <code>{i['workload']}</code>, {i['memory']}, "
                f"{i['ticks']} ticks, seed {i['seed']}<table><tr>{head}</tr>{body}</table></div>")

    def __repr__(self) -> str:
        i = self.info
        return f"<mmkit.Result {i['workload']} {i['memory']} ticks={i['ticks']} seed={i['seed']} variants={self.variants}>"

    # ------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write the frames (parquet), the info (JSON) and the final memories (npz, no
        pickles) to folder ``path``, atomically: a temporary folder renamed at the end."""
        path = check_out_folder(path, "out")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            for name in self.FRAMES:
                getattr(self, name).write_parquet(tmp / f"{name}.parquet")
            for v, mem in self.memories.items():
                arrays = {n: getattr(mem, n) for n in mem.__dataclass_fields__ if isinstance(getattr(mem, n), np.ndarray)}
                np.savez_compressed(tmp / f"memory-{_safe(v)}.npz", **arrays)
            info = dict(self.info)
            info["zone_names"] = {v: list(m.zone_names) for v, m in self.memories.items()}
            (tmp / "result.json").write_text(json.dumps(info, indent=1, default=_jsonable))
            os.rename(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return path


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in name)


def _jsonable(x):
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    return str(x)


def load_result(path: str | os.PathLike) -> Result:
    """Load a folder written by ``Result.save``.

    Parameters
    ----------
    path : str or os.PathLike
        The folder (parquet, JSON and npz files only: nothing is unpickled).

    Returns
    -------
    Result
        The same frames and final memories as the saved one; results saved before the
        contiguity rows existed load with an empty ``contiguity`` frame.

    Raises
    ------
    SnapshotError
        A damaged or foreign folder, naming the file.

    Examples
    --------
    >>> res = mmkit.simulate(variant="v4.8", gib=0.25, ticks=20)
    >>> path = res.save(tmp / "run")
    >>> mmkit.load_result(path).timeline.equals(res.timeline)
    True
    """
    from mmkit.model.memory import PAGE_ARRAY_FIELDS
    from mmkit.semantics import NAMED

    path = check_path("path", path)
    meta = path / "result.json"
    if not meta.is_file():
        raise SnapshotError(f"{path}: not a saved mmkit result (no result.json)")
    try:
        info = json.loads(meta.read_text())
        variants = info["variants"]
        zone_names = info["zone_names"]
        if not isinstance(variants, list) or not all(isinstance(v, str) for v in variants):
            raise ValueError("variants is not a list of names")
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as e:
        raise SnapshotError(f"{meta}: not a result.json written by Result.save ({type(e).__name__}: {e})") from None
    frames = {}
    for n in Result.FRAMES:
        f = path / f"{n}.parquet"
        if n == "contiguity" and not f.exists():  # saved before the frame existed
            frames[n] = pl.DataFrame(schema=CONTIGUITY_SCHEMA)
            continue
        try:
            frames[n] = pl.read_parquet(f)
        except Exception as e:  # polars raises its own classes for a damaged file
            raise SnapshotError(f"{f}: cannot read the saved frame ({type(e).__name__}: {e})") from None
    memories = {}
    for v in variants:
        f = path / f"memory-{_safe(v)}.npz"
        try:
            with np.load(f, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            missing = [k for k in PAGE_ARRAY_FIELDS if k not in arrays]
            if missing:
                raise ValueError(f"no {', '.join(missing)} array")
            mem = Memory(zone_names=tuple(zone_names[v]), **arrays)
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as e:
            raise SnapshotError(f"{f}: cannot read the saved memory ({type(e).__name__}: {e})") from None
        mem.variant = NAMED.get(v)
        memories[v] = mem
    return Result(frames, memories, info)
