"""What per-CPU page lists change in a workload: ``review-04`` on a 512 MiB machine,
seeds 1-10, under v4.5, v3-04, v4.8 and v6.18, with no CPUs (``cpus=0``, the presets'
default) and with two (``cpus=2``). Prints the pooled THP success, the median order-3
success, misrouted putbacks and KPF_BALLOON misreports per variant and CPU count
(docs/modelling.md, "Per-CPU page lists").

    .venv/bin/python verification/pcp_effect.py   # about 2 minutes on 2 cores
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import mmkit  # noqa: E402

VARIANTS = ["v4.5", "v3-04", "v4.8", "v6.18"]


def main() -> int:
    rows = []
    t = time.time()
    for cpus in (0, 2):
        for seed in range(1, 11):
            r = mmkit.compare(workload="review-04", variants=VARIANTS, gib=0.5, seed=seed, cpus=cpus)
            for row in r.final().iter_rows(named=True):
                rows.append(dict(cpus=cpus, seed=seed, **row))
    df = pl.DataFrame(rows)
    pl.Config.set_tbl_cols(20)
    pl.Config.set_tbl_width_chars(200)
    print(df.group_by("cpus", "variant", maintain_order=True).agg(
        thp_pooled=pl.col("thp_fault_alloc").sum()
        / (pl.col("thp_fault_alloc").sum() + pl.col("thp_fault_fallback").sum()),
        order3_median=pl.col("order3_success").median(),
        misrouted_median=pl.col("misrouted_putback").median(),
        kpf_misreport_median=pl.col("kpf_balloon_misreport").median(),
    ))
    print(f"{time.time() - t:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
