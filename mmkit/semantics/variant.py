"""``Variant``: one kernel version's page-migration rules, as a value (DESIGN.md).

Every field is one rule (a row of SEMANTICS.md §2-§4). Build a variant no kernel ever had
with ``dataclasses.replace(mmkit.variant("v3-04"), pg_isolated=IsolatedBit.PG_RECLAIM)``;
``validate()`` refuses combinations that cannot exist and says why.

To add a rule: a field of ``Variant`` below (its type: bool or an enum of
``mmkit.semantics.rules``; its default; its docstring, with the kernel function and
commit it models), ``validate()`` if it needs other rules, its value in each named
variant that differs from the default (``mmkit.semantics.named``), the kernel that reads
``vc[F_<NAME>]`` and the twin's code (``mmkit.reference``). ``RULE_FIELDS``, the
``F_<NAME>`` indices, the field types, ``Variant.compile()``, ``mmkit.variants()`` and
the differential tests' strategies follow from the field; ``tests/test_rules_alive.py``
checks that changing it changes some run.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, fields

import numpy as np

from mmkit.errors import VariantError
from mmkit.semantics.rules import (
    BalloonProtocol,
    CmaCleanRule,
    FailureRoute,
    FallbackRule,
    IsolatedBit,
    MovableMarker,
    NewpageRoute,
    PageBalloonTest,
    PageblockMerge,
    PageTypes,
    SwapcacheBit,
)



@dataclass(frozen=True)
class Variant:
    """The page-migration rules of one kernel version (or of one a user built)."""

    name: str
    description: str
    page_types: PageTypes
    movable_marker: MovableMarker
    balloon_protocol: BalloonProtocol
    page_balloon: PageBalloonTest
    pg_isolated: IsolatedBit
    newpage_route: NewpageRoute
    failure_route: FailureRoute
    cma_clean_rule: CmaCleanRule
    swapcache_bit: SwapcacheBit
    zsmalloc_movable: bool
    """zsmalloc pages are non-LRU movable (v3 13-15 / v4.8 zsmalloc migration)."""
    zsmalloc_last_private_2: bool
    """zsmalloc marks the last sub-page of a zspage PG_private_2 (2016; removed 2017)."""
    zsmalloc_huge_owner_priv_1: bool
    """zsmalloc marks huge-object pages PG_owner_priv_1 (from its v4.8 migration patch)."""
    kpf_buddy_all_pages: bool
    """stable_page_flags sets KPF_BUDDY on every page of a free block, not only the head
    (832fc1de01ae "/proc/kpageflags: return KPF_BUDDY for "tail" buddy pages", v4.6)."""
    balloon_branch_first: bool
    """isolate_migratepages_block tries the balloon branch before the compound skip (v4.5)."""
    extfrag_costly_only: bool
    """compaction_suitable applies extfrag_threshold only above PAGE_ALLOC_COSTLY_ORDER (3)."""
    kpf_folio_flags: bool
    """stable_page_flags reads the folio's (head page's) flags for every page of a large
    folio (``k = folio->flags``, K-kpf), not each page's own."""
    isolate_free_min_wmark: bool = False
    """``__isolate_free_page`` keeps the zone above its min watermark, free pages of CMA
    pageblocks counted (ALLOC_CMA): v4.9, Vlastimil Babka's "make direct compaction more
    deterministic" series (its patch 09/11 "mm, compaction: use proper alloc_flags in
    __compaction_suitable()" added ALLOC_CMA, here and in ``__compaction_suitable``'s
    order-0 test, for every caller). Before: the low watermark, without the free CMA
    pages, and the order-0 test with the caller's own ALLOC_CMA."""
    compact_count_skipped: bool = False
    """compact_migrate_scanned / compact_free_scanned count every page of a free or
    compound block the scanners step over (v5.1), not one per block."""
    compact_large_folios: bool = False
    """Compaction migrates LRU large folios (v6.9, ``skip_isolation_on_order``): below
    pageblock order for ``compact_memory``, below the target order otherwise. The free
    scanner keeps free blocks whole (``cc->freepages[order]``), ``compaction_alloc`` splits
    one for each folio, a folio that gets no target is split (``try_split_folio``), and one
    that cannot be split (a file folio with dirty or writeback buffers) ends the zone's
    compaction with COMPACT_CONTENDED; a refused free block stops the free scanner's block."""
    compact_finish_pageblock: bool = False
    """``compact_zone`` isolates the rest of a pageblock in one batch, past
    COMPACT_CLUSTER_MAX, when the scan resumes in the block it last isolated from
    (``cc->rescan`` in v5.1, ``cc->finish_pageblock`` from v6.2)."""
    free_scanner_stride: bool = False
    """``isolate_freepages`` samples pageblocks (v5.1): it looks at every ``stride``-th page
    frame of a block, the stride starting at 1 (32 for async compaction), doubling up to
    COMPACT_CLUSTER_MAX after each block that gave no free page and back to 1 after one
    that did."""
    skip_hints_scanned: bool = False
    """Pageblock skip bits as from v5.1 (Mel Gorman's compaction series): a scanner marks
    a block it scanned whole also when the skip hints are ignored (``update_pageblock_skip``
    tests only ``no_set_skip_hint``; contiguous ranges set none), the free scanner whatever
    it isolated there, the migrate scanner when it isolated nothing or finished the block,
    and the migrate scanner tests and sets the bit at its first LRU page of a block
    (``test_and_set_skip``: a block already marked is left, unless the scan finishes it),
    so ``isolate_migratepages`` tests the bit only where the scanner enters a block, not
    where it resumes one after a batch (e380bebe4771); ``compact_memory`` leaves the bits
    as it finds them. Before (v4.x): a block is marked only when nothing was isolated
    from it and the hints are honoured, and ``compact_memory`` first clears every bit of
    the zone (``__compact_pgdat``)."""
    compact_finished_low_wmark: bool = True
    """``__compact_finished`` tests the zone's low watermark at the order before it looks
    for a free page of that order (v4.x; gone in v6.x)."""
    compact_finished_aligned: bool = False
    """``__compact_finished`` reports success only with the migrate scanner at a pageblock
    boundary: "always finish scanning a pageblock to reduce the possibility of fallbacks"
    (v4.12)."""
    free_isolate_fail_break: bool = False
    """``isolate_freepages_block`` stops at the first free block ``__isolate_free_page``
    refuses (its watermark test): ``if (!isolated) break`` (v4.8, 66c64223ad4e, when the free scanner
    stopped splitting under the zone lock). Before: the block is stepped over."""
    compaction_min_wmark: bool = False
    """Compaction's watermarks as in v6.x: ``compaction_suitable`` is given the caller's
    watermark (the min one, ALLOC_WMARK_MIN, for the allocator's slow path and kcompactd),
    success when the order already meets it, skipped below it plus ``compact_gap`` (plus
    low - min for costly orders); a zone's compaction succeeded when ``compact_zone``
    returned COMPACT_SUCCESS; and (v6.13, 6268f0a166eb) an async direct compaction of a
    costly order without ALLOC_CMA skipped when the free pages outside CMA are below the
    watermark plus ``compact_gap``. Before: the low watermark, and success judged by the
    low watermark after the run."""
    kcompactd: bool = False
    """Background compaction is ``kcompactd_do_work`` (v4.6): every zone from the lowest
    up to the one that failed, each compacted whatever the others did, sync-light. Without
    it, the allocator's own loop (``try_to_compact_pages``: highest zone first, stop at the
    first zone that meets its watermark) stands in for kswapd's compaction of v4.5. The
    series, on v4.6-rc, has it."""
    kcompactd_ignore_skip_hint: bool = False
    """kcompactd compacts with ``ignore_skip_hint`` (v4.6-v4.x: true; v6.x: false)."""
    pcp_high_order: bool = False
    """The per-CPU page lists keep orders up to PAGE_ALLOC_COSTLY_ORDER (3) and the THP
    order, a list per order and migratetype (v5.14, 44042b449872); a bulk free empties
    the list just freed to first, then each list in turn, and a refill is
    ``max(batch >> order, 2)`` blocks. Before: order 0 only, three lists, a bulk free
    round robin with a quota, a refill of ``batch``. Only a Memory with CPUs
    (``cpus=``) has per-CPU lists."""
    pcp_autotune: bool = False
    """``pcp->high`` is tuned between ``high_min`` (the low watermark split over the
    CPUs) and ``high_max`` (an eighth of the zone, split) as in v6.7+ (Huang Ying's PCP
    auto-tuning): raised at refills, lowered while the zone is below its high watermark
    and under reclaim, decayed by the vmstat worker; bulk frees of ``free_count`` pages;
    ``batch`` up to 63. Before: ``high = 6 * batch``, ``batch`` up to 31, a bulk free of
    ``batch`` pages."""
    pcp_mt_at_drain: bool = False
    """A page drained from a per-CPU list goes to the free list of its pageblock's
    migratetype at the time (today's ``free_pcppages_bulk``); before, to the migratetype
    it had when it was freed (``get_pcppage_migratetype``, ``page->index``)."""
    kcompactd_drain: bool = False
    """kcompactd drains every CPU's lists of the zone (``drain_all_pages(zone)``) after a
    compaction that ended COMPACT_COMPLETE or COMPACT_PARTIAL_SKIPPED (v4.17, David
    Rientjes' "mm, compaction: drain pcps for zone when kcompactd fails"; absent in
    v4.8)."""
    fallback_rule: FallbackRule = FallbackRule.MOVE_FREE_CLAIM_HALF_FREE
    """What the allocator does with a block it takes from another migratetype's free
    lists: see :class:`~mmkit.semantics.rules.FallbackRule` (v4.5, v4.12, v6.10)."""
    pageblock_merge: PageblockMerge = PageblockMerge.ANY
    """Which free blocks merge across pageblocks of different migratetypes: see
    :class:`~mmkit.semantics.rules.PageblockMerge` (v4.5, v4.6, v5.18)."""
    alloc_nofragment: bool = False
    """ALLOC_NOFRAGMENT (v5.0, 6bb154504f8b "spread allocations across zones before
    introducing fragmentation"): the fast path of a request whose preferred zone is
    ZONE_NORMAL first goes down the whole zonelist taking only whole pageblocks from
    other migratetypes (and, from v6.10, never a single stolen page), and only when no
    zone can serve it so goes down again as before."""
    balloon_deflate_list: bool = False
    """virtio-balloon's deflate gives pages back by walking a list threaded through
    ``page->lru`` (195a8c43e93d "virtio-balloon: deflate via a page list", 2017); before,
    ``release_pages_balloon`` dropped them by pfn from ``vb->pfns``. With the list, a page
    that D-2019's race sent through ``putback_lru_page`` breaks the walk (list
    corruption, as on the stable kernels 3.12-4.7 that took the driver without the
    series); by pfn, the page reaches an LRU list and its last reference, dropped by the
    driver, frees it from there."""
    watermark_boost: bool = False
    """A fallback of less than a pageblock boosts the zone's watermarks (v5.0,
    1c30844d2dfe "mm: reclaim small amounts of memory when an external fragmentation event
    occurs"): ``boost_watermark`` raises min, low and high by a pageblock, up to 1.5 x the
    high watermark (``watermark_boost_factor`` 15000), and marks the zone
    ZONE_BOOSTED_WATERMARK; the next allocation wakes kswapd, which reclaims the boost
    without swapping or writeback when the node is balanced (normally when it is not),
    drops the boost and wakes kcompactd at pageblock order."""
    proactive_compaction: bool = False
    """kcompactd compacts proactively (v5.9, facaa902a "mm: proactive compaction"): every
    ``HPAGE_FRAG_CHECK_INTERVAL_MSEC`` (500 ms) without a wakeup, when the node's
    fragmentation score (``fragmentation_score_node``: each zone's
    ``extfrag_for_order(zone, HPAGE_PMD_ORDER)``, weighted by its present pages) is above
    the high mark (90 at ``vm.compaction_proactiveness`` = 20, its default), it runs
    ``compact_node(pgdat, true)``: every zone, order -1, sync-light, skip hints ignored,
    until the zone's own score is at most the low mark (80); a run that did not lower the
    score makes the next wait 64 times longer."""
    released_if_not_isolated: bool = False
    """``move_to_new_page`` as v3 02/16 wrote it (R-02): a page that is ``PageMovable`` but
    not ``PageIsolated`` was released by its driver after isolation, so migration succeeds
    without a copy and ``__ClearPageMovable`` clears its mapcount sentinel, PG_movable and
    ``page->mapping``. A driver's page that a misroute left on an LRU list, isolated from
    there, passes this test: its driver keeps it, not moved and no longer movable. From
    v4.8 (bda807d44454) a page is non-LRU by ``__PageMovable`` and taken as released only
    when ``!PageMovable`` (its driver cleared the marker under migration; no driver here
    does); v4.5 has no such test."""
    compact_fast_search: bool = False
    """Compaction for an order above 0 first searches the free lists (v5.1, Mel Gorman's
    70b44595eafe "mm, compaction: use free lists to quickly locate a migration source"
    and 5a811889de10 "... to quickly locate a migration target"). ``fast_isolate_freepages``:
    a few MOVABLE free blocks below the target order, from the tail of each list, one in
    the top quarter of the space between the scanners taken whole (else the highest in the
    top half), the list rotated past what was looked at, the rest of its pageblock scanned
    (``fast_isolate_around``). The linear free scanner runs only when no free page is
    isolated after that, for every order (``compact_memory``'s too: since v6.9 a large
    folio finding no isolated block of its order while smaller ones are isolated gets
    no new scan, and is split). ``fast_find_migrateblock`` (orders above
    PAGE_ALLOC_COSTLY_ORDER, skip hints honoured): a MOVABLE free block of order 3 or
    more in the first half (at the start) or eighth of the space that is not in a
    skipped pageblock moves the migrate scanner to that pageblock; when none is found
    the linear scan resumes, once, at the lowest free page an earlier search of the run
    picked. Both search less after each failure (``freelist_scan_limit``)."""
    cma_balance: bool = False
    """``__rmqueue`` gives a movable request (ALLOC_CMA) a block of the CMA free lists
    first while more than half of the zone's free pages are in CMA pageblocks
    (``NR_FREE_CMA_PAGES > NR_FREE_PAGES / 2``: v5.7, 16867664936e "mm,page_alloc,cma:
    conditionally prefer cma pageblocks for movable allocations"). Before, CMA served
    movable requests only when the MOVABLE lists had no block of the order."""
    longterm_pin_migrate: bool = False
    """A long-term pin (``FOLL_LONGTERM``: vfio, RDMA; mmkit's pinned anonymous pages,
    held for the page's life) of a page in a CMA pageblock first migrates it to a page
    from ``GFP_USER`` (no __GFP_MOVABLE: an unmovable request, never served from CMA)
    and pins that one: 9a4e9f3b2d73 "mm: update get_user_pages_longterm to migrate pages
    allocated from CMA region" (v5.1); today ``migrate_longterm_unpinnable_folios``
    (``folio_is_longterm_pinnable``). When no target is found the pin fails and the
    page stays, unpinned. Before, a pinned page in a CMA pageblock stayed there, and
    every contiguous range over it failed."""
    alloc_contig_thp: bool = False
    """``alloc_contig_range`` isolates LRU THPs and large folios in its range
    (``cc->alloc_contig``) and migrates each into a target of its order, splitting one
    that gets none and migrating its pages: 1da2f328fa64 "mm,thp,compaction,cma: allow
    THP migration for CMA allocations" (v5.7). Migration then counts as v6.9's
    ``migrate_pages`` does (``compact_large_folios``). Before, a THP in the range was
    passed over and the range failed."""
    contig_enomem_bail: bool = False
    """``__alloc_contig_migrate_range`` stops at once when ``migrate_pages`` finds no
    target (-ENOMEM), and the range fails with -ENOMEM: Oscar Salvador's "mm,page_alloc:
    bail out earlier on -ENOMEM in alloc_contig_migrate_range" (April 2021, v5.13).
    Before, the loop went on retrying the pages left on its list, up to five times
    (``tries``), and returned -ENOMEM only when the last ``migrate_pages`` had. Either
    way ``cma_alloc`` ends its walk over the area on -ENOMEM, where on -EBUSY it tries
    the next position."""
    contig_pageblock_isolation: bool = False
    """``alloc_contig_range`` isolates the range's own pageblocks only, splitting a free
    block that crosses the window's edge (``isolate_single_pageblock``): b2c9e2fbba32
    "mm: make alloc_contig_range work at pageblock granularity" (v5.19). Before, it
    isolated whole MAX_ORDER blocks around the range (``pfn_max_align_down`` /
    ``pfn_max_align_up``), so that no free block could straddle the isolation, taking
    the neighbouring pageblock of an unaligned range out of the allocator's reach too."""
    sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Coerce plain ints/bools so a user-built variant compares and hashes consistently.
        for name in RULE_FIELDS:
            object.__setattr__(self, name, _coerce(name, getattr(self, name)))
        if not isinstance(self.name, str) or not self.name:
            raise VariantError("variant field name: a variant needs a non-empty name")
        self.validate()

    # --------------------------------------------------------------- checks
    def validate(self) -> None:
        """Raise :class:`VariantError` if the rules cannot coexist in one kernel."""
        M, problems = MovableMarker, []
        mapcount_markers = (M.PG_RECLAIM_MAPCOUNT_255, M.PG_RECLAIM_MAPCOUNT_256)
        if self.movable_marker in mapcount_markers and self.pg_isolated == IsolatedBit.PG_RECLAIM:
            problems.append(
                "pg_isolated=PG_RECLAIM with a PG_reclaim movable marker: PG_movable and PG_isolated "
                "would be the same bit, so every movable page would read as isolated"
            )
        if self.movable_marker == M.NONE:
            if self.zsmalloc_movable:
                problems.append("zsmalloc_movable=True needs a generic movable marker (movable_marker is NONE)")
            if self.balloon_protocol == BalloonProtocol.GENERIC:
                problems.append("balloon_protocol=GENERIC needs a generic movable marker (movable_marker is NONE)")
        elif self.pg_isolated == IsolatedBit.NONE:
            problems.append(
                f"movable_marker={self.movable_marker.name} needs a PG_isolated bit: generic movable "
                "pages are marked isolated by isolate_movable_page (pg_isolated is NONE)"
            )
        if self.contig_pageblock_isolation and self.pageblock_merge == PageblockMerge.ANY:
            problems.append(
                "contig_pageblock_isolation=True with pageblock_merge=ANY: the free block split at the window's "
                "edge would merge again across it, an isolated pageblock with one that is not (v4.6's "
                "d9dddbf55667 stopped such merges; the window came later, in v5.19)")
        if self.cma_clean_rule == CmaCleanRule.NOT_ISOLATED and self.pg_isolated == IsolatedBit.NONE:
            problems.append("cma_clean_rule=NOT_ISOLATED reads PageIsolated, which pg_isolated=NONE does not have")
        one_byte = self.page_types == PageTypes.ONE_BYTE
        if one_byte and self.movable_marker in mapcount_markers:
            problems.append(
                f"movable_marker={self.movable_marker.name} stores a _mapcount sentinel, but "
                "page_types=ONE_BYTE keeps the page type in that word"
            )
        if not one_byte and self.movable_marker == M.PG_MOVABLE_OPS:
            problems.append("movable_marker=PG_MOVABLE_OPS is meaningful on typed pages only (needs page_types=ONE_BYTE)")
        if one_byte and self.page_balloon in (PageBalloonTest.MAPCOUNT, PageBalloonTest.MAPCOUNT_AND_PRIVATE_2):
            problems.append(
                f"page_balloon={self.page_balloon.name} reads a _mapcount sentinel, which "
                "page_types=ONE_BYTE does not have (use PAGE_OFFLINE or BALLOON_MAPPING)"
            )
        if not one_byte and self.page_balloon == PageBalloonTest.PAGE_OFFLINE:
            problems.append("page_balloon=PAGE_OFFLINE needs page_types=ONE_BYTE (PGTY_offline)")
        if self.page_balloon == PageBalloonTest.MAPCOUNT_AND_PRIVATE_2 and self.movable_marker != M.PG_RECLAIM_MAPCOUNT_256:
            problems.append(
                "page_balloon=MAPCOUNT_AND_PRIVATE_2 is v3 04's _mapcount == -256 && PagePrivate2, -256 being "
                "the movable value there, and needs movable_marker=PG_RECLAIM_MAPCOUNT_256"
            )
        if self.newpage_route == NewpageRoute.MAPPING_BIT and self.movable_marker != M.MAPPING_BIT:
            problems.append("newpage_route=MAPPING_BIT reads the mapping's movable bit, which needs movable_marker=MAPPING_BIT")
        if self.cma_clean_rule == CmaCleanRule.MOVABLE_OPS_THEN_EVICTABLE and self.movable_marker != M.PG_MOVABLE_OPS:
            problems.append("cma_clean_rule=MOVABLE_OPS_THEN_EVICTABLE needs movable_marker=PG_MOVABLE_OPS")
        if self.cma_clean_rule == CmaCleanRule.NOT_MOVABLE and self.movable_marker == M.NONE:
            problems.append("cma_clean_rule=NOT_MOVABLE reads __PageMovable, which movable_marker=NONE does not have")
        if self.movable_marker == M.PG_RECLAIM_MAPCOUNT_256 and self.page_balloon in (
                PageBalloonTest.MAPCOUNT, PageBalloonTest.MAPCOUNT_AND_PRIVATE_2):
            # -256 is PAGE_BALLOON_MAPCOUNT_VALUE: every generic movable page (zsmalloc's too)
            # passes a _mapcount PageBalloon, so no code may still treat PageBalloon as
            # "a balloon page"; v3 04 removed that code in the patch that made -256 the value
            old_balloon_code = []
            if self.balloon_protocol == BalloonProtocol.PAGE_PRIVATE:
                old_balloon_code.append("balloon_protocol=PAGE_PRIVATE (balloon_page_movable/isolate)")
            if self.failure_route in (FailureRoute.V4_5, FailureRoute.V3_02):
                old_balloon_code.append(f"failure_route={self.failure_route.name} (isolated_balloon_page -> "
                                        "balloon_page_putback)")
            if old_balloon_code:
                problems.append(
                    "movable_marker=PG_RECLAIM_MAPCOUNT_256 with page_balloon=" + self.page_balloon.name + " and "
                    + " and ".join(old_balloon_code) + ": -256 is PAGE_BALLOON_MAPCOUNT_VALUE, so every generic "
                    "movable page (every zsmalloc page) reads as PageBalloon and the v3.19 balloon code would take "
                    "zsmalloc pages for balloon pages (list_del of a page->lru the balloon never linked, a "
                    "zsmalloc page put on the balloon list); v3 04 made -256 the movable value in the same patch "
                    "that moved the balloon onto the generic feature and removed that code (use "
                    "balloon_protocol=GENERIC with failure_route V3_04 or later, movable_marker="
                    "PG_RECLAIM_MAPCOUNT_255, or page_balloon=BALLOON_MAPPING)"
                )
        if self.balloon_branch_first and self.balloon_protocol != BalloonProtocol.PAGE_PRIVATE:
            problems.append(
                "balloon_branch_first=True is v4.5's isolate_balloon_page branch, which exists only with "
                "balloon_protocol=PAGE_PRIVATE (with the generic protocol it would take any page with "
                "PagePrivate that PageBalloon calls a balloon page, e.g. a zsmalloc page in v3-04)"
            )
        if self.fallback_rule == FallbackRule.CLAIM_OR_STEAL_ONE and self.pageblock_merge != PageblockMerge.NOT_UNMERGEABLE:
            problems.append(
                f"fallback_rule=CLAIM_OR_STEAL_ONE keeps every free page on its pageblock's list, which needs "
                f"pageblock_merge=NOT_UNMERGEABLE (with {self.pageblock_merge.name} a free block could span "
                "pageblocks of an unmergeable type and another)"
            )
        if self.fallback_rule == FallbackRule.CLAIM_OR_STEAL_ONE and not self.pcp_mt_at_drain:
            problems.append(
                "fallback_rule=CLAIM_OR_STEAL_ONE keeps every free page on its pageblock's list, which needs "
                "pcp_mt_at_drain=True (a per-CPU page drained to the type it was freed with could land on "
                "another type's list)"
            )
        if self.kcompactd_ignore_skip_hint and not self.kcompactd:
            problems.append("kcompactd_ignore_skip_hint=True is a kcompactd rule; it needs kcompactd=True")
        if self.compact_fast_search and not self.skip_hints_scanned:
            problems.append(
                "compact_fast_search=True relies on v5.1's skip hints to avoid searching the same "
                "blocks again (fast_find_migrateblock), which needs skip_hints_scanned=True"
            )
        if self.proactive_compaction and not self.kcompactd:
            problems.append("proactive_compaction=True is a kcompactd rule; it needs kcompactd=True")
        if problems:
            raise VariantError(f"variant {self.name!r} cannot exist: " + "; ".join(problems))

    # ------------------------------------------------------------ compile
    def compile(self) -> np.ndarray:
        """The rules as an int64 array indexed by the ``F_*`` constants (for the kernels)."""
        return np.array([int(getattr(self, n)) for n in RULE_FIELDS], dtype=np.int64)

    def rules(self) -> dict[str, str]:
        """Field name -> rule name, for tables."""
        return {n: (getattr(self, n).name if not isinstance(getattr(self, n), bool) else str(getattr(self, n)))
                for n in RULE_FIELDS}

    def replace(self, **changes) -> "Variant":
        """``dataclasses.replace`` with a check that the names are fields; the result is
        validated. Without a new ``name`` it is named after what changed: this name, then
        ``+field=VALUE`` for each rule that differs (``v3-04+pg_isolated=PG_RECLAIM``), so
        variants built from one base with different rules have different names
        (``+custom`` when no rule differs)."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise VariantError(f"variant fields {sorted(unknown)} do not exist; fields are {list(RULE_FIELDS)}")
        if "name" not in changes:
            new = {n: _coerce(n, changes[n]) for n in RULE_FIELDS if n in changes}
            diff = [f"+{n}={_show(v)}" for n, v in new.items() if v != getattr(self, n)]
            changes["name"] = self.name + ("".join(diff) or "+custom")
        return dataclasses.replace(self, **changes)


# Every field of Variant but its name, description and sources is a rule, in the order
# Variant.compile() lays them out; each is declared once, in the class above (its type,
# its default, its doc). F_<NAME> (the field's name upper-cased) is its index in that
# array, made here for every rule field: a kernel reads rule ``pg_isolated`` as
# ``vc[F_PG_ISOLATED]`` (``from mmkit.semantics.variant import F_PG_ISOLATED``).
RULE_FIELDS = tuple(f.name for f in fields(Variant) if f.name not in ("name", "description", "sources"))
NR_RULE_FIELDS = len(RULE_FIELDS)
_FIELD_TYPES = {n: t for n, t in typing.get_type_hints(Variant).items() if n in RULE_FIELDS}
globals().update({f"F_{n.upper()}": i for i, n in enumerate(RULE_FIELDS)})


def rule_values(name: str) -> list:
    """Every value rule field ``name`` can take: its enum's members, or False and True."""
    typ = _FIELD_TYPES[name]
    return [False, True] if typ is bool else list(typ)


def _coerce(name: str, value):
    """A rule field's value as its enum or bool (plain ints and numpy bools accepted)."""
    typ = _FIELD_TYPES[name]
    try:
        if typ is not bool:
            return typ(value)
        if isinstance(value, (bool, np.bool_)) or value in (0, 1):
            return bool(value)
    except (ValueError, TypeError):
        pass
    allowed = ", ".join(m.name for m in typ) if typ is not bool else "True, False"
    raise VariantError(f"variant field {name}: {value!r} is not one of {allowed}")


def _show(value) -> str:
    return str(value) if isinstance(value, bool) else value.name
