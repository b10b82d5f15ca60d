"""Every preset does what it says at every size: its own signature (pages swapped, pages
migrated, balloon pages migrated, contiguous allocations made) is non-zero on 0.25, 4 and
64 GiB machines, and its variants differ where the kernels did and agree where they did
not. The 64 GiB runs take 10-30 s each and run 100 ticks (marked slow)."""

from __future__ import annotations

import functools

import polars as pl
import pytest

import mmkit
from mmkit.workloads import PRESETS

VARIANTS = ("v4.5", "v3-04", "v4.8")
SLOW = pytest.mark.slow
SIZES = [pytest.param(0.25, id="0.25GiB"), pytest.param(4, id="4GiB"), pytest.param(64, id="64GiB", marks=SLOW)]



def ticks_for(name: str, gib: float) -> int:
    """The preset's own ticks, or 100 on the 64 GiB machine (its signature shows by then)."""
    return 100 if gib > 16 else PRESETS[name].ticks


# review-04: whether v4.5 misroutes (a deflate race) or migrates a balloon page in 200
# ticks depends on the seed. Of seeds 0-9, at 0.25 and 4 GiB, all but two show all the
# tests below ask (seed 1: v4.5 misroutes nothing at 0.25 GiB; seed 9: v4.5 migrates no
# balloon page there); seed 0 is one that does
SEEDS = {"review-04": 0}


@functools.cache  # the final rows only: the runs themselves are dropped
def finals(name: str, gib: float) -> dict[str, dict]:
    """Each variant's last timeline row, with ``peak_kpf_balloon_misreport``: the most pages
    KPF_BALLOON misreported at any sample (the balloon may be empty at the end)."""
    r = mmkit.compare(workload=name, variants=list(VARIANTS), gib=gib, seed=SEEDS.get(name, 0), ticks=ticks_for(name, gib))
    peak = r.timeline.group_by("variant").agg(mmkit_peak=pl.col("kpf_balloon_misreport").max())
    peak = dict(zip(peak["variant"].to_list(), peak["mmkit_peak"].to_list()))
    return {row["variant"]: {**row, "peak_kpf_balloon_misreport": peak[row["variant"]]}
            for row in r.final().iter_rows(named=True)}


# the rules of compaction's own code, which changed between the eras apart from the series
COMPACTION_FIELDS = ("extfrag_costly_only", "isolate_free_min_wmark", "compact_count_skipped", "compact_large_folios",
                     "compact_finish_pageblock", "free_scanner_stride", "skip_hints_scanned",
                     "compact_finished_low_wmark", "compact_finished_aligned", "free_isolate_fail_break",
                     "compaction_min_wmark", "kcompactd", "kcompactd_ignore_skip_hint")


@functools.cache
def finals_against_v45(name: str, gib: float, variant: str) -> tuple[dict, dict]:
    """The last rows of ``variant`` and of v4.5 given ``variant``'s compaction rules (one
    compare, the same seed and ticks as ``finals``)."""
    v = mmkit.variant(variant)
    base = mmkit.variant("v4.5").replace(name=f"v4.5 with {variant}'s compaction",
                                         **{f: getattr(v, f) for f in COMPACTION_FIELDS})
    r = mmkit.compare(workload=name, variants=[v, base], gib=gib, seed=0, ticks=ticks_for(name, gib))
    rows = {row["variant"]: row for row in r.final().iter_rows(named=True)}
    return rows[v.name], rows[base.name]


def test_every_preset_has_its_signature_here():
    assert set(PRESETS) == {"steady", "zram-pressure", "balloon-vm", "cma", "review-04"}


def test_ops_and_balloon_scale_above_scale_from_gib_only():
    from mmkit.run import compile_params
    from mmkit.engine import workload as W

    wl = PRESETS["balloon-vm"]
    for gib, factor in ((0.25, 1), (4, 1), (16, 4), (64, 16)):
        P = compile_params(wl.params(), mmkit.Memory.synthetic(gib=gib, variant="v4.8"))
        assert P[W.P_OPS] == wl.params()["ops_per_tick"] * factor, gib
        assert P[W.P_BALLOON_PAGES] == wl.params()["balloon_pages"] * factor, gib
    P = compile_params(wl.params(scale_from_gib=0), mmkit.Memory.synthetic(gib=16, variant="v4.8"))
    assert P[W.P_OPS] == wl.params()["ops_per_tick"]
    P = compile_params(wl.params(scale_from_gib=1), mmkit.Memory.synthetic(gib=4, variant="v4.8"))
    assert P[W.P_OPS] == 4 * wl.params()["ops_per_tick"]


# ---------------------------------------------------------------- steady
@pytest.mark.parametrize("gib", SIZES)
def test_steady_migrates_pages(gib):
    f = finals("steady", gib)
    for v in VARIANTS:
        assert f[v]["pgmigrate_success"] > 0, v
        assert f[v]["pgsteal"] > 0, v  # near its low watermark: reclaim runs


@pytest.mark.parametrize("gib", SIZES)
def test_steady_variants_agree_on_lru_pages(gib):
    # steady allocates LRU and kernel pages only (no balloon, no zram): the non-LRU rules
    # do not come into it, so a variant's run is v4.5's once v4.5 compacts as it does
    # (kcompactd since v4.6, the free scanner's stop since v4.8)
    for v in VARIANTS[1:]:
        got, base = finals_against_v45("steady", gib, v)
        for c in ("pgmigrate_success", "compact_stall", "free_pages", "mixed_movable_blocks"):
            assert got[c] == base[c], (v, c)


# ---------------------------------------------------------------- zram-pressure
@pytest.mark.parametrize("gib", SIZES)
def test_zram_pressure_swaps_and_migrates(gib):
    f = finals("zram-pressure", gib)
    for v in VARIANTS:
        assert f[v]["pswpout"] > 0, v
        assert f[v]["zsmalloc_pages"] > 0, v
        assert f[v]["pgmigrate_success"] > 0, v


@pytest.mark.parametrize("gib", SIZES)
def test_zram_pressure_zsmalloc_movable_from_the_series_on(gib):
    # v4.5 allocates zsmalloc pages unmovable; the series (v3-04, v4.8) makes them movable
    f = finals("zram-pressure", gib)
    for v in ("v3-04", "v4.8"):
        assert f[v]["unmovable_pages"] < f["v4.5"]["unmovable_pages"] - f[v]["zsmalloc_pages"] // 2, v
        assert f[v]["pgmigrate_success"] != f["v4.5"]["pgmigrate_success"], v


# ---------------------------------------------------------------- balloon-vm
@pytest.mark.parametrize("gib", SIZES)
def test_balloon_vm_migrates_balloon_pages(gib):
    f = finals("balloon-vm", gib)
    for v in VARIANTS:
        assert f[v]["balloon_migrate"] > 0, v
        assert f[v]["balloon_inflate"] > 0 and f[v]["balloon_deflate"] > 0, v


@pytest.mark.parametrize("gib", SIZES)
def test_balloon_vm_deflate_race_misroutes_before_v48_only(gib):
    # D-2019: a deflate between unlock and the newpage test sends a balloon page to
    # putback_lru_page (v4.5 and the v3 series); v4.8's mapping bit survives the deflate
    f = finals("balloon-vm", gib)
    assert f["v4.5"]["misrouted_putback"] > 0
    assert f["v3-04"]["misrouted_putback"] > 0
    assert f["v4.8"]["misrouted_putback"] == 0


# ---------------------------------------------------------------- cma
@pytest.mark.parametrize("gib", SIZES)
def test_cma_migrates_for_contiguous_allocations(gib):
    f = finals("cma", gib)
    for v in VARIANTS:
        assert f[v]["cma_alloc_success"] + f[v]["cma_alloc_fail"] > 0, v
        assert f[v]["cma_migrated"] > 0, v


@pytest.mark.parametrize("gib", SIZES[1:])
def test_cma_makes_contiguous_allocations(gib):
    f = finals("cma", gib)
    for v in VARIANTS:
        assert f[v]["cma_alloc_success"] > 0, v


def test_cma_on_a_small_machine_walks_past_pins_and_v3_04_loses_ranges():
    # 0.25 GiB: the CMA area is 13 pageblocks and each allocation wants 8 of them (6
    # positions). Windows that hold a page with an extra reference (a GUP pin: migration
    # gives up after its passes) or a THP (v4.8's isolate_migratepages_block skips compound
    # pages; THP migration for contiguous ranges came in 5.7) fail with -EBUSY after
    # migrating what they could, and cma_alloc tries the next position: every variant
    # walks. Under v3-04 a PG_checked page reads as isolated (R-04 point 3), so it is
    # neither dropped nor isolated and stays in the range: fewer ranges are allocated.
    f = finals("cma", 0.25)
    for v in VARIANTS:
        assert f[v]["cma_alloc_busy_retry"] > 0 and f[v]["cma_migrated"] > 0, v
    assert f["v4.5"]["cma_alloc_success"] > 0 and f["v4.8"]["cma_alloc_success"] > 0
    assert f["v3-04"]["cma_alloc_success"] < f["v4.5"]["cma_alloc_success"]
    assert f["v3-04"]["cma_skip_false_positive"] > 0


@pytest.mark.parametrize("gib", SIZES)
def test_cma_pg_checked_reads_as_isolated_under_v3_only(gib):
    # v3 puts PG_isolated on PG_owner_priv_1, which ext4 data=journal sets as PG_checked:
    # those file pages look isolated, so v3-04 migrates differently from v4.5 with its
    # compaction rules; v4.8 migrates as v4.5 with its own
    for v, differ in (("v3-04", True), ("v4.8", False)):
        got, base = finals_against_v45("cma", gib, v)
        assert (got["pgmigrate_success"] != base["pgmigrate_success"]) == differ, v


# ---------------------------------------------------------------- review-04
@pytest.mark.parametrize("gib", SIZES)
def test_review_04_swaps_and_migrates_balloon_and_lru_pages(gib):
    f = finals("review-04", gib)
    for v in VARIANTS:
        for c in ("pswpout", "pgmigrate_success", "balloon_migrate"):
            assert f[v][c] > 0, (v, c)


@pytest.mark.parametrize("gib", SIZES)
def test_review_04_variants_differ(gib):
    f = finals("review-04", gib)
    assert f["v4.8"]["misrouted_putback"] == 0
    assert f["v4.5"]["misrouted_putback"] > 0
    # v3-04's PageBalloon also wants PG_private_2: /proc/kpageflags misreports balloon pages
    assert f["v3-04"]["peak_kpf_balloon_misreport"] > 0
    assert f["v4.8"]["peak_kpf_balloon_misreport"] == 0


def test_every_engine_parameter_slot_is_filled_by_one_knob():
    """Each P_* slot of mmkit.engine.workload is named by exactly one workload knob
    (P_CMA_AREA_BLOCKS aside: compile_params computes it from cma_area and the machine),
    and every knob's slot exists."""
    from mmkit.engine import workload as W
    from mmkit.workloads import PARAMS

    slots = {n: getattr(W, n) for n in dir(W) if n.startswith("P_") and isinstance(getattr(W, n), int)}
    assert sorted(slots.values()) == list(range(W.NR_P))
    named = [p.slot for p in PARAMS.values() if p.slot]
    assert all(s in slots for s in named), [s for s in named if s not in slots]
    assert len(named) == len(set(named))
    assert set(slots) - set(named) == {"P_CMA_AREA_BLOCKS"}


def test_compile_params_puts_each_knob_in_its_slot():
    import mmkit
    from mmkit.engine import workload as W
    from mmkit.run import compile_params
    from mmkit.workloads import PARAMS, workload

    mem = mmkit.Memory.synthetic(gib=1)
    params = workload("review-04").params()
    P = compile_params(params, mem)
    assert P[W.P_MIX_FILE] == params["mix_file"] and P[W.P_SAMPLE_EVERY] == params["sample_every"]
    assert P[W.P_CHURN_PPM] == round(params["churn"] * 1_000_000)
    assert P[W.P_KCOMPACTD] == int(params["kcompactd"])
    assert PARAMS["mix_file"].slot == "P_MIX_FILE"
