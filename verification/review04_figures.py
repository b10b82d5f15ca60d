"""The figures notebook 02 states about `review-04` (``notebooks/build.py``: SEEDS_NOTE,
CMA_NOTE and the notes under its tables), measured again: a model change that moves
them makes this print different numbers, and the text must follow.

    .venv/bin/python verification/review04_figures.py          # seeds 1-40, 512 MiB; about 10 s

Prints, per variant over seeds 1-40: THP success pooled over all faults and its range
per seed, order-3 success (median and lowest), mixed movable pageblocks and misrouted
putbacks (medians), deflate races per balloon migration, CMA allocations that succeeded,
the positions that failed with -EBUSY per allocation and the pages migrated for them;
seed 1's rank under v4.5 by THP share; then for seed 1 (the notebook's run) each
variant's faults, THP faults, direct compaction successes and balloon migrations, and
whether v4.8 draws v3-04-reviewed's lines tick for tick (the columns that differ).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import mmkit  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=40)
    ap.add_argument("--gib", type=float, default=0.5)
    args = ap.parse_args(argv)
    names = list(mmkit.NAMED)
    rows = []
    for seed in range(1, args.seeds + 1):
        r = mmkit.compare(workload="review-04", variants=names, gib=args.gib, seed=seed)
        rows.append(r.final().with_columns(seed=pl.lit(seed)))
    f = pl.concat(rows)
    print(f"review-04, {args.gib:g} GiB, seeds 1-{args.seeds}:")
    for v in names:
        d = f.filter(pl.col("variant") == v)
        thp = d["thp_fault_alloc"].sum() / max(1, d["thp_fault_alloc"].sum() + d["thp_fault_fallback"].sum())
        cma_ok = d["cma_alloc_success"].sum()
        print(f"  {v:16s} THP pooled {100 * thp:.1f}% (per seed {100 * d['thp_success'].min():.0f}-"
              f"{100 * d['thp_success'].max():.0f}%), order-3 median {100 * d['order3_success'].median():.0f}% "
              f"lowest {100 * d['order3_success'].min():.0f}%, mixed movable median {d['mixed_movable_blocks'].median()}, "
              f"misrouted median {d['misrouted_putback'].median()}, deflate races per balloon migration "
              f"{100 * d['deflate_race'].sum() / max(1, d['balloon_migrate'].sum()):.1f}%, CMA allocations "
              f"{cma_ok}/{cma_ok + d['cma_alloc_fail'].sum()}, -EBUSY positions per allocation "
              f"{d['cma_alloc_busy_retry'].sum() / max(1, cma_ok + d['cma_alloc_fail'].sum()):.1f}, "
              f"pages migrated for them (median) {d['cma_migrated'].median():.0f}")
    v45 = f.filter(pl.col("variant") == "v4.5").sort("thp_success", descending=True)
    print(f"  seed 1 is v4.5's {v45['seed'].to_list().index(1) + 1} of {args.seeds} by THP share; CMA successes: "
          f"{f.filter(pl.col('cma_alloc_success') > 0).select('variant', 'seed', 'cma_alloc_success').to_dicts()}")

    res = mmkit.compare(workload="review-04", variants=names, gib=args.gib, seed=1, log_traffic=True)
    print("\nseed 1 (notebook 02's run):")
    keep = ["misrouted_putback", "deflate_race", "lru_corruption", "kpf_balloon_misreport", "cma_skip_false_positive",
            "balloon_migrate", "thp_fault_alloc", "thp_fault_fallback", "compact_success", "mixed_movable_blocks",
            "order3_success", "cma_alloc_success", "cma_alloc_fail", "cma_alloc_busy_retry", "cma_migrated",
            "cma_reclaimed"]
    for row in res.final().iter_rows(named=True):
        print(f"  {row['variant']:16s} " + ", ".join(f"{k} {row[k]}" for k in keep))
    mis = res.events.filter(pl.col("event") == "misrouted_putback").group_by("variant", "kind").len().sort("variant")
    print("  misrouted putbacks by page kind:", mis.to_dicts())
    a = res.timeline.filter(pl.col("variant") == "v4.8").drop("variant")
    b = res.timeline.filter(pl.col("variant") == "v3-04-reviewed").drop("variant")
    print("  v4.8 against v3-04-reviewed, timeline columns that differ:", [c for c in a.columns if not a[c].equals(b[c])])
    return 0


if __name__ == "__main__":
    sys.exit(main())
