"""The figures of docs/validation.md, measured: each preset on a 512 MiB machine with its
defaults, seeds 1-3, as tests/test_validation.py runs them.

Run: python verification/validation_figures.py"""

from __future__ import annotations

import numpy as np

import mmkit

SEEDS = (1, 2, 3)


def finals(workload: str, variants: list[str]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {v: [] for v in variants}
    for seed in SEEDS:
        r = mmkit.compare(workload=workload, variants=variants, seed=seed, gib=0.5)
        for row in r.final().iter_rows(named=True):
            out[row["variant"]].append(row)
    return out


def show(label: str, xs: list[float], pct: bool = True) -> str:
    f = (lambda x: f"{100 * x:.1f}") if pct else (lambda x: f"{x:.2f}")
    return f"{label}: {f(float(np.mean(xs)))}{'%' if pct else ''} ({', '.join(f(x) for x in xs)})"


def main() -> None:
    z = finals("zram-pressure", ["v4.5", "v4.8"])
    mixed = {v: [r["mixed_movable_blocks"] / r["movable_blocks"] for r in rows] for v, rows in z.items()}
    print("zram-pressure, mixed MOVABLE pageblocks:")
    for v in mixed:
        print("  " + show(v, mixed[v]))
    print(f"  v4.8 / v4.5: {np.mean(mixed['v4.8']) / np.mean(mixed['v4.5']):.2f}")
    for key in ("order2_success", "order3_success", "thp_success"):
        print(f"zram-pressure, {key}: " + "; ".join(show(v, [r[key] for r in rows]) for v, rows in z.items()))
    for key in ("oom", "pswpout", "compact_stall"):
        print(f"zram-pressure, {key}: " + "; ".join(f"{v} {[r[key] for r in rows]}" for v, rows in z.items()))
    rows = finals("steady", ["v4.8"])["v4.8"]
    ratio = [(r["blocks_touched_unmovable"] / r["pageblocks"]) / (r["unmovable_pages"] / r["used_pages"]) for r in rows]
    print("steady, v4.8, (blocks touched by unmovable / pageblocks) / (unmovable / used pages): "
          + show("ratio", ratio, pct=False))
    print("steady, v4.8, unmovable share of used pages: "
          + show("share", [r["unmovable_pages"] / r["used_pages"] for r in rows]))


if __name__ == "__main__":
    main()
