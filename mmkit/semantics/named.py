"""The six named variants of SEMANTICS.md §1: the one table tests, benchmarks and docs
iterate over."""

from __future__ import annotations

from mmkit.semantics.rules import (
    BalloonProtocol as BP,
    CmaCleanRule as CMA,
    FailureRoute as FR,
    FallbackRule as FB,
    IsolatedBit as IB,
    MovableMarker as MM,
    NewpageRoute as NR,
    PageBalloonTest as PB,
    PageblockMerge as PM,
    PageTypes as PT,
    SwapcacheBit as SB,
)
from mmkit.semantics.variant import Variant

_V45 = Variant(
    name="v4.5",
    description="before the series: only balloon pages are non-LRU movable (PagePrivate protocol); zsmalloc cannot move",
    page_types=PT.MAPCOUNT_SENTINELS,
    movable_marker=MM.NONE,
    balloon_protocol=BP.PAGE_PRIVATE,
    page_balloon=PB.MAPCOUNT,
    pg_isolated=IB.NONE,
    newpage_route=NR.PAGE_BALLOON,
    failure_route=FR.V4_5,
    cma_clean_rule=CMA.NOT_BALLOON,
    swapcache_bit=SB.OWN,
    zsmalloc_movable=False,
    zsmalloc_last_private_2=True,
    zsmalloc_huge_owner_priv_1=False,
    kpf_buddy_all_pages=False,
    balloon_branch_first=True,
    extfrag_costly_only=False,
    kpf_folio_flags=False,
    sources=("K-d6d", "K-vs45"),
)

_V3_02 = _V45.replace(
    name="v3-02",
    description="v3 01-02: generic non-LRU movable pages, balloon still special-cased, zsmalloc movable",
    movable_marker=MM.PG_RECLAIM_MAPCOUNT_255,
    pg_isolated=IB.PG_OWNER_PRIV_1,
    failure_route=FR.V3_02,
    zsmalloc_movable=True,
    kpf_buddy_all_pages=True,  # 832fc1de01ae, v4.6: the series is based on v4.6-rc (mmotm)
    kcompactd=True,  # 698b1b30642f, v4.6-rc1: so has the series
    kcompactd_ignore_skip_hint=True,
    pageblock_merge=PM.NOT_ISOLATE,  # d9dddbf55667, v4.6-rc1
    released_if_not_isolated=True,  # v3 02's move_to_new_page, unchanged by 04
    sources=("v3-00", "R-01", "R-02", "A-02"),
)

_V3_04 = _V3_02.replace(
    name="v3-04",
    description="v3 04: balloon on the generic feature; PageBalloon = movable && PG_private_2 (the reviewed code)",
    movable_marker=MM.PG_RECLAIM_MAPCOUNT_256,
    balloon_protocol=BP.GENERIC,
    page_balloon=PB.MAPCOUNT_AND_PRIVATE_2,
    newpage_route=NR.PAGE_MOVABLE,
    failure_route=FR.V3_04,
    cma_clean_rule=CMA.NOT_ISOLATED,
    balloon_branch_first=False,
    sources=("v3-04", "R-04", "A-04"),
)

_V3_04_REVIEWED = _V3_04.replace(
    name="v3-04-reviewed",
    description="v3-04 with the review's fixes: PageBalloon from the balloon mapping, PG_isolated a bit of its own",
    page_balloon=PB.BALLOON_MAPPING,
    pg_isolated=IB.OWN_BIT,
    newpage_route=NR.BALLOON_OR_PAGE_MOVABLE,
    sources=("R-04", "A-04", "v4-02"),
)

_V4_8 = _V45.replace(
    name="v4.8",
    description="as merged: movable = mapping bit 0x2, PG_isolated = PG_reclaim, set by the VM",
    movable_marker=MM.MAPPING_BIT,
    balloon_protocol=BP.GENERIC,
    pg_isolated=IB.PG_RECLAIM,
    newpage_route=NR.MAPPING_BIT,
    failure_route=FR.V4_8,
    cma_clean_rule=CMA.NOT_MOVABLE,
    zsmalloc_movable=True,
    zsmalloc_huge_owner_priv_1=True,
    kpf_buddy_all_pages=True,  # since v4.6 (832fc1de01ae)
    balloon_branch_first=False,
    free_isolate_fail_break=True,  # since v4.8 (66c64223ad4e)
    kcompactd=True,  # since v4.6 (698b1b30642f)
    kcompactd_ignore_skip_hint=True,
    pageblock_merge=PM.NOT_ISOLATE,  # since v4.6 (d9dddbf55667)
    sources=("K-bda", "K-b11"),
)

_V6_18 = _V4_8.replace(
    name="v6.18",
    description="today: page types, PG_movable_ops, routing by the source's is_lru",
    page_types=PT.ONE_BYTE,
    movable_marker=MM.PG_MOVABLE_OPS,
    page_balloon=PB.PAGE_OFFLINE,
    newpage_route=NR.SOURCE_IS_LRU,
    failure_route=FR.V6_18,
    cma_clean_rule=CMA.MOVABLE_OPS_THEN_EVICTABLE,
    swapcache_bit=SB.PG_OWNER_PRIV_1,
    zsmalloc_last_private_2=False,
    zsmalloc_huge_owner_priv_1=False,
    kpf_buddy_all_pages=True,
    extfrag_costly_only=True,
    kpf_folio_flags=True,
    isolate_free_min_wmark=True,
    compact_count_skipped=True,
    compact_large_folios=True,
    compact_finish_pageblock=True,
    free_scanner_stride=True,
    skip_hints_scanned=True,
    compact_finished_low_wmark=False,
    compact_finished_aligned=True,
    compaction_min_wmark=True,
    kcompactd_ignore_skip_hint=False,
    pcp_high_order=True,
    pcp_autotune=True,
    pcp_mt_at_drain=True,
    kcompactd_drain=True,
    fallback_rule=FB.CLAIM_OR_STEAL_ONE,  # v6.10 freelist hygiene; try_to_claim_block v6.15
    pageblock_merge=PM.NOT_UNMERGEABLE,  # since v5.18 (1dd214b8f21c)
    alloc_nofragment=True,  # since v5.0 (6bb154504f8b)
    balloon_deflate_list=True,  # since 2017 (195a8c43e93d)
    watermark_boost=True,  # since v5.0 (1c30844d2dfe)
    proactive_compaction=True,  # since v5.9 (facaa902a), vm.compaction_proactiveness 20
    compact_fast_search=True,  # since v5.1 (70b44595eafe, 5a811889de10)
    cma_balance=True,  # since v5.7 (16867664936e)
    longterm_pin_migrate=True,  # since v5.1 (9a4e9f3b2d73)
    alloc_contig_thp=True,  # since v5.7 (1da2f328fa64)
    contig_enomem_bail=True,  # since v5.13 (Salvador, "bail out earlier on -ENOMEM")
    contig_pageblock_isolation=True,  # since v5.19 (b2c9e2fbba32)
    sources=("K-mod", "K-pf25", "K-kpf", "U-2019", "O-2018"),
)

NAMED: dict[str, Variant] = {v.name: v for v in (_V45, _V3_02, _V3_04, _V3_04_REVIEWED, _V4_8, _V6_18)}

# What runs when no variants are named. A comparison (mmkit.compare, mmkit.sweep, the
# Explorer) shows the review: the kernel before the series, the reviewed code, as merged.
# A recorded workload (mmkit.replay) is replayed under the kernels it could have met:
# before the series, as merged, today.
COMPARE_VARIANTS: tuple[str, ...] = ("v4.5", "v3-04", "v4.8")
REPLAY_VARIANTS: tuple[str, ...] = ("v4.5", "v4.8", "v6.18")
