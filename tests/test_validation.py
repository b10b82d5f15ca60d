"""Checks against published figures, in shape not in exact value (docs/validation.md).
Each runs three seeds on a 512 MiB machine and asserts a direction with a margin."""

import numpy as np
import pytest

import mmkit

SEEDS = (1, 2, 3)


def finals(workload, variants, **kw):
    out = {v: [] for v in variants}
    for seed in SEEDS:
        r = mmkit.compare(workload=workload, variants=variants, seed=seed, gib=0.5, **kw)
        for row in r.final().iter_rows(named=True):
            out[row["variant"]].append(row)
    return out


@pytest.fixture(scope="module")
def zram():
    return finals("zram-pressure", ["v4.5", "v4.8"])


def test_zram_pressure_mixes_movable_blocks_under_v45_less_under_v48(zram):
    mixed = {v: np.array([r["mixed_movable_blocks"] / r["movable_blocks"] for r in rows]) for v, rows in zram.items()}
    # Joonsoo Kim (2015) measured about 54% of MOVABLE pageblocks mixed with zram
    # measured (seeds 1-3): v4.5 0.943 0.806 0.952, v4.8 0.151 0.216 0.167
    assert mixed["v4.5"].mean() > 0.25
    assert mixed["v4.8"].mean() < 0.75 * mixed["v4.5"].mean()


def test_zram_pressure_high_order_success_v48_at_least_v45(zram):
    # measured (seeds 1-3, mean): order-2 v4.5 0.876 v4.8 1.0; order-3 0.739, 1.0; THP 0.063, 0.164
    for key in ("order2_success", "order3_success", "thp_success"):
        a = np.mean([r[key] for r in zram["v4.5"]])
        b = np.mean([r[key] for r in zram["v4.8"]])
        assert b >= a - 0.02, key


def test_steady_unmovable_pages_touch_many_more_blocks_than_their_share():
    rows = finals("steady", ["v4.8"])["v4.8"]
    ratio = [(r["blocks_touched_unmovable"] / r["pageblocks"]) /
             (r["unmovable_pages"] / r["used_pages"]) for r in rows]
    # Meta (2023): 34% of 2 MB blocks touched by unmovable pages vs 7% of memory unmovable
    # (ratio 4.9); measured here (seeds 1-3): 1.95 1.52 1.67
    assert np.mean(ratio) > 1.4
