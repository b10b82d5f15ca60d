"""Writes ``05-sweeps.ipynb`` from the cells below, outputs empty, in the style of
``build.py`` (whose helpers it uses)::

    .venv/bin/python notebooks/build_05.py            # rewrite the .ipynb file
    .venv/bin/python notebooks/build_05.py --check    # exit 1 if the file differs from this script
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from build import D_2019, R_04, V3_00, code, md, one_notebook_main

NAME = "05-sweeps.ipynb"


def sweeps() -> list[dict]:
    return [
        md(f"""
# Sweeps: the series' benefit and the review's faults over many seeds

One run is an anecdote. This notebook runs the same comparisons as notebooks 02 and 03
over 40 seeds each and draws the distributions: first the series' benefit
({V3_00}), `zram-pressure` on a 512 MiB machine under v4.5 (before) and v4.8 (merged):
mixed MOVABLE pageblocks and the success of order-2, order-3 and THP allocations; then the
review's faults, `review-04` on 512 MiB under all six variants. The cells run on a Dask
cluster of two local worker processes (`mmkit.sweep(..., client=client)`); without a
client they run on a local process pool, with the same frames bit for bit.

Why 40 seeds: both variants of a seed start from the same memory, so each seed is a
paired comparison: if neither variant were better, a difference going the same way in 36
or more of 40 seeds would happen less than once in a million sweeps (the sign test below
gives the probability for each measure), while the eight seeds of notebook 03 cannot tell
a small effect from noise. 40 is what fits this notebook's time budget (under a
minute and a half on two cores with a warm numba cache): 40 cells of `zram-pressure`
(2 runs of 300 ticks each) and 40 of `review-04` (6 runs of 200 ticks each). Set `SEEDS`
below to `range(1, 101)` for a tighter spread; the time grows in proportion.
"""),
        code("""
import math

import polars as pl
from distributed import Client, LocalCluster

import mmkit
from mmkit.viz.sweep import sweep_allocations, sweep_bands, sweep_distribution, sweep_faults, sweep_fragmentation

pl.Config(tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True, tbl_rows=20, float_precision=3)
SEEDS = list(range(1, 41))
cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None)
client = Client(cluster)
"""),
        md("""
## The series' benefit: `zram-pressure`, v4.5 against v4.8

`zram-pressure` wants 1.6 times the machine's memory, swaps anonymous pages into zram, and
asks for order-2/3 (fork) and THP allocations. A sweep's frame has one row per cell and
variant: the grid's columns (here `seed`), `variant`, each metric's value at the end of
the run and a thinned timeline (`mmkit.sweep.timeline(frame)` makes it long).
"""),
        code("""
benefit = mmkit.sweep({"seed": SEEDS, "variant": ["v4.5", "v4.8"]}, workload="zram-pressure", gib=0.5,
                      client=client)
benefit.select("seed", "variant", "mixed_movable_blocks", "movable_blocks", "order2_success", "order3_success",
               "thp_success", "unusable_9").head(6)
"""),
        md("""
Before the series zsmalloc's pages are unmovable allocations that fall back into MOVABLE
pageblocks and stay there; with it they are movable and compaction takes them out again. A
MOVABLE pageblock is *mixed* when it holds unmovable or reclaimable pages, which compaction
cannot move: each dot is one seed.
"""),
        code("""
sweep_distribution(benefit, ["mixed_movable_blocks", "movable_blocks"],
                   title=f"MOVABLE pageblocks at the end of zram-pressure, {len(SEEDS)} seeds")
"""),
        code("""
sweep_bands(benefit, "mixed_movable_blocks")
"""),
        md("""
What a user feels is whether high-order allocations succeed: fork's order-2 kernel
stacks, order-3 allocations, transparent huge pages at fault time.
"""),
        code("""
sweep_allocations(benefit)
"""),
        md("""
Seed by seed: both variants of a seed start from the same memory and see the same
workload, so each seed is a paired comparison. The sign test asks how likely at least this
many seeds would go one way if neither variant were better (ties left out).
"""),
        code("""
# +1: higher is better, -1: lower is better
MEASURES = {"mixed_movable_blocks": -1, "order2_success": 1, "order3_success": 1, "thp_success": 1,
            "unusable_9": -1, "fragindex_9": -1}
before = benefit.filter(pl.col("variant") == "v4.5").sort("seed")
after = benefit.filter(pl.col("variant") == "v4.8").sort("seed")


def sign_test(better, worse):
    n, k = better + worse, max(better, worse)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k, n + 1)) / 2**n) if n else 1.0


rows = []
for m, sign in MEASURES.items():
    d = ((after[m] - before[m]) * sign).fill_nan(None).drop_nulls().to_numpy()
    better, same, worse = int((d > 0).sum()), int((d == 0).sum()), int((d < 0).sum())
    rows.append({"measure": m, "v4.5 median": before[m].fill_nan(None).median(),
                 "v4.8 median": after[m].fill_nan(None).median(), "v4.8 better": better, "same": same,
                 "worse": worse, "sign test p": f"{sign_test(better, worse):.1g}"})
pl.DataFrame(rows)
"""),
        md("""
At order 9 (2 MiB) a machine under this much pressure is fragmented under both kernels:
the medians of both indices below sit near 1, the worst, for v4.5 and v4.8 alike. The table
above says whether their small differences go one way seed by seed; the series' large
effect is on the pageblocks and on the smaller high-order allocations.
"""),
        code("""
sweep_fragmentation(benefit, order=9)
"""),
        md("""
## The review's faults: `review-04` under all six variants

`review-04` puts zram, a virtio balloon, a CMA area and ext4 `data=journal` page cache on
one machine (notebook 02 walks through one run). Each cell runs all six variants from the
same memory and seed.
"""),
        code("""
VARIANTS = list(mmkit.NAMED)
faults = mmkit.sweep({"seed": SEEDS}, workload="review-04", variants=VARIANTS, gib=0.5, client=client)
"""),
        md(f"""
The review's three points ({R_04}), one panel each: `PageBalloon()` calling other drivers'
pages balloon pages in `/proc/kpageflags` (pages misreported at the end of the run),
migrated non-LRU pages sent to `putback_lru_page()`, and contiguous allocations skipping
clean page-cache pages whose `PG_checked` reads as `PG_isolated`:
"""),
        code("""
sweep_faults(faults, ["kpf_balloon_misreport", "misrouted_putback", "cma_skip_false_positive"])
"""),
        md(f"""
Not every misrouted putback is the review's point. Under v3-02 every migrated zsmalloc page
goes to `putback_lru_page()`. Under v4.5, v3-04 and v3-04-reviewed the misrouted pages are
balloon pages deflated between the unlock of the new page and the test of it, the window
fixed in 2019 ({D_2019}); `deflate_race` below counts the deflates that landed there in
every variant, and only the kernels that test the new page after unlocking it misroute
them. What the misrouted pages did next: a driver-owned page threaded onto an LRU list,
handed to reclaim, and zsmalloc objects lost when reclaim freed the page.
"""),
        code("""
sweep_faults(faults, ["lru_corruption", "nonlru_to_reclaim", "objects_lost", "deflate_race"])
"""),
        md("""
In how many seeds each fault happened at all, per variant: a fault that shows in every
seed is a property of the rules, not of one run.
"""),
        code("""
from mmkit.result import FAULTS

happened = faults.group_by("variant", maintain_order=True).agg(
    [(pl.col(f) > 0).sum().alias(f) for f in FAULTS if faults[f].max() > 0])
happened.with_columns(seeds=pl.lit(len(SEEDS)))
"""),
        code("""
client.close()
cluster.close()
"""),
    ]


def main(argv: list[str] | None = None) -> int:
    return one_notebook_main(NAME, sweeps, "build_05.py", argv)


if __name__ == "__main__":
    sys.exit(main())
