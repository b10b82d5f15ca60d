"""Writes ``06-your-workload.ipynb`` from the cells below, outputs empty, in the style of
``build.py`` (whose helpers it uses)::

    .venv/bin/python notebooks/build_06.py            # rewrite the .ipynb file
    .venv/bin/python notebooks/build_06.py --check    # exit 1 if the file differs from this script
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from build import R_04, code, md, one_notebook_main

NAME = "06-your-workload.ipynb"


def your_workload() -> list[dict]:
    return [
        md("""
# Your workload, under every kernel's rules

`mmkit trace record` records a real machine's page allocator: a snapshot, every
allocation and free from tracefs, a snapshot. `mmkit.replay` runs that stream again under
other kernels' rules, from the first snapshot: each allocation as a request of the same
order, migratetype, page kind and zone, which each variant places by its own rules; each
free frees what the real page's allocation became there. The result is the `Result` that
`mmkit.compare` returns, so every chart and table of the other notebooks works on it.

By default this notebook replays the bundled trace `../data/trace-sample` (6 s of a 24 GiB
Linux 6.18 VM writing and copying a file while it allocates and frees anonymous arrays), so
its output is the same everywhere; set `RECORD_THIS_MACHINE = True` to record 10 s of the
machine you are on instead (needs root). It runs in about half a minute.
"""),
        code("""
import os
import tempfile
from pathlib import Path

import altair as alt
import polars as pl

import mmkit
import mmkit.trace
import mmkit.viz as viz
from mmkit.trace.replay import requests

pl.Config(tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True, float_precision=3)

RECORD_THIS_MACHINE = False  # True: record 10 s of this machine (root, tracefs)
can_record = os.geteuid() == 0 and os.path.isdir("/sys/kernel")

if RECORD_THIS_MACHINE and can_record:
    path = Path(tempfile.mkdtemp()) / "this-machine"
    mmkit.trace.record(path, 10)
else:
    path = Path("../data/trace-sample")
trace = mmkit.trace.load(path)
trace
"""),
        md("""
## What the machine asked for

Each `kmem:mm_page_alloc` event carries the order, the migratetype and the gfp mask of a
request. The replay reads the page kind from them (`docs/modelling.md`, "Replaying a
trace"): movable requests with `__GFP_ZERO` are anonymous faults, other movable ones page
cache, reclaimable ones slab, unmovable ones kernel pages. Pages requested per 100 ms:
"""),
        code("""
req = requests(trace)
alt.Chart(req.group_by("seconds", "kind").agg(pl.col("pages").sum()).sort("seconds"), height=220,
          title="Pages requested per 100 ms, by the kind the replay makes").mark_bar().encode(
    x=alt.X("seconds:Q", title="seconds from the first event"), y=alt.Y("pages:Q", stack=True),
    color=alt.Color("kind:N"), tooltip=["seconds", "kind", "pages"])
"""),
        code("""
req.group_by("kind", "order").agg(pl.col("requests").sum(), pl.col("pages").sum()).sort("pages", descending=True)
"""),
        md("""
## The same stream under four kernels

v4.5 (before the series), v4.8 (the series merged), v6.18 (today, the kernel the trace was
recorded on) and a variant built here: v6.18 without the watermark boost of v5.0, the rule
that makes kswapd and kcompactd clean up after an allocation fell back to another
migratetype's pageblock.
"""),
        code("""
no_boost = mmkit.variant("v6.18").replace(watermark_boost=False, name="v6.18-no-boost")
res = mmkit.replay(trace, ["v4.5", "v4.8", "v6.18", no_boost])
res
"""),
        md("""
Every inference the replay made is counted, per variant: allocations replayed and freed,
allocations the real kernel served but this variant could not, frees of pages the replay
knew nothing of, objects split by a partial free, real migrations' source pages. The
`alloc_over_live_capture` allocations came while the start snapshot was being read (the
snapshot already showed their page in use).
"""),
        code("""
pl.DataFrame([{"variant": v, **c} for v, c in res.info["replay"].items()]).select(
    "variant", "allocs", "frees", "alloc_failed", "free_unknown", "free_split", "migrated", "alloc_over_live",
    "alloc_over_live_capture")
"""),
        md("""
## Against the real machine

The replay under v6.18 should end where the real machine ended: its free pages by order
against the end snapshot's `/proc/buddyinfo` (the L1 distance as a share of the real free
pages), the unusable free index at order 9, and the vmstat counters against what the real
machine's counters moved between the two snapshots.
"""),
        code("""
mmkit.versus_real(res).select("variant", "free_pages_sim", "free_pages_real", "free_l1_share", "unusable_9_sim",
                              "unusable_9_real", "pgmigrate_success_sim", "pgmigrate_success_real",
                              "compact_stall_sim", "compact_stall_real", "thp_fault_alloc_sim",
                              "thp_fault_alloc_real")
"""),
        md("""
## Where the variants differ

Fragmentation at order 9 (2 MiB) over the trace's time, one line per variant (a tick is
100 ms of the trace):
"""),
        code("""
viz.fragmentation(res, order=9)
"""),
        code("""
viz.compare_table(res)
"""),
        md("""
Where each variant left the pages at the end: one cell per pageblock, coloured by what
fills most of it.
"""),
        code("""
viz.memory_map(res, variant=["v4.5", "v6.18"])
"""),
        md(f"""
## The review's faults in this workload

The review of v3-04 ({R_04}) found faults that touch only non-LRU movable pages: balloon
pages and zsmalloc (zram) pages. Which pages of this workload would v3-02 have misrouted
after migration, and which would `/proc/kpageflags` have called balloon pages under v3-04?
The counts at the end of the replay:
"""),
        code("""
from mmkit.result import FAULTS

faulty = mmkit.replay(trace, ["v3-02", "v3-04", "v4.8"])
faulty.final().select("variant", "balloon_pages", "zsmalloc_pages", *FAULTS)
"""),
        md("""
On the bundled trace every count is zero, and that is the answer: the machine had no
balloon driver and no zram swap, so no page of its workload was a non-LRU movable page,
and compaction had nothing to misroute. The review's faults need a guest with a balloon or
a machine swapping to zram: record such a machine (or replay with `swap=True`, which lets
the replay's own reclaim swap anonymous pages into zram under memory pressure), or run the
`review-04` and `zram-pressure` workloads of notebooks 02 and 05.
"""),
    ]


def main(argv: list[str] | None = None) -> int:
    return one_notebook_main(NAME, your_workload, "build_06.py", argv)


if __name__ == "__main__":
    raise SystemExit(main())
