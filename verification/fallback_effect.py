"""What the allocator's fallback rules change in a workload: ``review-04`` and
``zram-pressure`` on an 8 GiB machine (DMA, DMA32 and a Normal zone from 4 GiB), seeds
1-5, under v6.18, v6.18 without the watermark boost, v6.18 without ALLOC_NOFRAGMENT,
and v6.18 with the fallbacks of v4.12-v6.9 and of v4.5 (without the boost and
ALLOC_NOFRAGMENT of v5.0 for v4.5's). Prints the means at the last tick of mixed pageblocks, mixed
MOVABLE pageblocks and THP success, and the free pages left on a list of another type
than their pageblock's (docs/modelling.md, "Free lists and fallbacks by era").

    .venv/bin/python verification/fallback_effect.py [--cpus N]   # about a minute
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import mmkit  # noqa: E402
from mmkit.model.kinds import PAGEBLOCK_NR_PAGES  # noqa: E402
from mmkit.reference import engine_state  # noqa: E402
from mmkit.semantics import FallbackRule  # noqa: E402


def variants() -> list:
    v = mmkit.variant("v6.18")
    return [
        v,
        v.replace(name="v6.18 without watermark_boost", watermark_boost=False),
        v.replace(name="v6.18 without alloc_nofragment", alloc_nofragment=False),
        v.replace(name="v6.18 with v4.12-v6.9 fallbacks", fallback_rule=FallbackRule.MOVE_FREE_CLAIM_HALF_ALIKE,
                  pcp_mt_at_drain=False),
        v.replace(name="v6.18 with v4.5 fallbacks", fallback_rule=FallbackRule.MOVE_FREE_CLAIM_HALF_FREE,
                  pcp_mt_at_drain=False, alloc_nofragment=False, watermark_boost=False),
    ]


def foreign_free_pages(mem) -> int:
    """Free pages on a free list of another migratetype than their pageblock's."""
    pb = mem.pb_flags & 7
    n = 0
    for (_, order, mt), blocks in engine_state(mem)["free_lists"].items():
        step = min(1 << order, PAGEBLOCK_NR_PAGES)
        for pfn in blocks:
            n += step * int(np.count_nonzero(pb[np.arange(pfn, pfn + (1 << order), step) // PAGEBLOCK_NR_PAGES] != mt))
    return n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpus", type=int, default=2, help="CPUs of the simulated machine (default 2)")
    ap.add_argument("--gib", type=float, default=8.0, help="machine size (default 8)")
    args = ap.parse_args(argv)
    rows = []
    for workload in ("review-04", "zram-pressure"):
        for seed in range(1, 6):
            r = mmkit.compare(workload=workload, variants=variants(), gib=args.gib, seed=seed, cpus=args.cpus)
            for row in r.final().iter_rows(named=True):
                rows.append(dict(workload=workload, seed=seed, foreign=foreign_free_pages(r.memories[row["variant"]]),
                                 **row))
    df = pl.DataFrame(rows)
    pl.Config.set_tbl_cols(10)
    pl.Config.set_tbl_width_chars(200)
    pl.Config.set_fmt_str_lengths(40)
    print(f"{args.gib:g} GiB, {args.cpus} CPUs, seeds 1-5, means at the last tick")
    print(df.group_by("workload", "variant", maintain_order=True).agg(
        pl.col("mixed_blocks").mean().round(1), pl.col("mixed_movable_blocks").mean().round(1),
        pl.col("thp_success").mean().round(3), pl.col("foreign").mean().round(1)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
