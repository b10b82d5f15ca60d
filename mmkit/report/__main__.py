"""``python -m mmkit.report``: the main job of ``bash run.sh``.

Until the notebooks and their HTML reports exist, it says so and runs the review's
scenario (``review-04``) under all six variants on a small synthetic machine, printing
the before/after table: what the flagship report will show, as text.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    import polars as pl

    import mmkit
    from mmkit.semantics import NAMED

    print("mmkit main job: the flagship notebook and its HTML report are not built yet;")
    print("running the review-04 scenario under every variant instead (512 MiB, seed 1).\n")
    res = mmkit.compare(workload="review-04", variants=list(NAMED), gib=0.5, seed=1, progress=True)
    counters = ("misrouted_putback", "lru_corruption", "objects_lost", "kpf_balloon_misreport",
                "cma_skip_false_positive", "deflate_race", "list_corruption", "nonlru_to_reclaim",
                "mixed_movable_blocks", "free_o9", "thp_success", "order3_success", "pgmigrate_success")
    table = res.table(counters).select(["counter", *res.variants])
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=200, float_precision=3):
        print(table)
    print("\nno report was written.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
