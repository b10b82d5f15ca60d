"""The rules that differ between kernel versions, one enum per row of SEMANTICS.md §2-§4.

Each enum's docstring names the kernel function it stands for and the source tag of
SEMANTICS.md §0 where it was read. Values are small ints: ``Variant.compile()`` puts them
in an int64 array that the numba kernels read.
"""

from __future__ import annotations

from enum import IntEnum


class PageTypes(IntEnum):
    """Where PageBuddy / PageBalloon / PageTable live (``PAGE_TYPE_OPS``, ``page_type``).

    MAPCOUNT_SENTINELS: negative ``_mapcount`` values (buddy -128, balloon -256; K-bda).
    ONE_BYTE: v6.12+ one type byte at the top of ``page_type`` (PGTY_*; K-pf25).
    """

    MAPCOUNT_SENTINELS = 0
    ONE_BYTE = 1


class MovableMarker(IntEnum):
    """How ``__SetPageMovable`` marks a non-LRU movable page, and so what the lockless
    ``__PageMovable`` test in ``isolate_migratepages_block`` reads.

    NONE: no generic non-LRU movable pages (v4.5; only balloon pages move).
    PG_RECLAIM_MAPCOUNT_255: PG_movable (= PG_reclaim) and ``_mapcount == -255`` (R-02).
    PG_RECLAIM_MAPCOUNT_256: the same with -256, the balloon value made an alias (v3-04).
    MAPPING_BIT: ``(page->mapping & 3) == PAGE_MAPPING_MOVABLE``; ``__ClearPageMovable``
    keeps the bit, so the test still answers yes after the driver lets go (K-bda, D-2019).
    PG_MOVABLE_OPS: PG_movable_ops (= PG_uptodate) on a typed page (K-pf25).
    """

    NONE = 0
    PG_RECLAIM_MAPCOUNT_255 = 1
    PG_RECLAIM_MAPCOUNT_256 = 2
    MAPPING_BIT = 3
    PG_MOVABLE_OPS = 4


class BalloonProtocol(IntEnum):
    """How compaction isolates and puts back balloon pages.

    PAGE_PRIVATE: the v3.19 protocol (K-d6d): ``balloon_page_isolate`` clears PagePrivate,
    compaction has its own balloon branch (``isolate_balloon_page``), and
    ``balloon_page_putback`` sets PagePrivate again.
    GENERIC: balloon pages are ordinary non-LRU movable pages with isolate/migrate/putback
    hooks (v3-04, K-b11).
    """

    PAGE_PRIVATE = 0
    GENERIC = 1


class PageBalloonTest(IntEnum):
    """What ``PageBalloon()`` tests; its only caller is ``stable_page_flags`` (R-04),
    which reports it as bit 23 of /proc/kpageflags (KPF_BALLOON, later KPF_OFFLINE).

    MAPCOUNT: ``_mapcount == PAGE_BALLOON_MAPCOUNT_VALUE`` (-256; v4.5, v3-02, v4.8).
    MAPCOUNT_AND_PRIVATE_2: ``atomic_read(&page->_mapcount) == PAGE_BALLOON_MAPCOUNT_VALUE &&
    PagePrivate2(page)`` as v3 04 writes it (v3-04), -256 being every non-LRU movable
    page's value there (PAGE_BALLOON_MAPCOUNT_VALUE is PAGE_MOVABLE_MAPCOUNT_VALUE); no
    PG_movable test, so every movable page with PG_private_2 passes.
    BALLOON_MAPPING: ``page->mapping`` is the balloon's (the review's fix, R-04/A-04).
    PAGE_OFFLINE: ``PageOffline`` (O-2018; PGTY_offline today).
    """

    MAPCOUNT = 0
    MAPCOUNT_AND_PRIVATE_2 = 1
    BALLOON_MAPPING = 2
    PAGE_OFFLINE = 3


class IsolatedBit(IntEnum):
    """Which page flag ``PageIsolated()`` reads (SEMANTICS.md §2).

    NONE: no PG_isolated (v4.5: an isolated balloon page is one with PagePrivate cleared).
    PG_OWNER_PRIV_1: v3 01-04, shared with PG_checked / PG_pinned / PG_foreign (R-04 3).
    PG_RECLAIM: v4.8 and later (K-bda).
    OWN_BIT: a bit shared with no other flag (v3-04-reviewed: the review asked for a bit of
    its own; PG_reclaim is taken by v3's PG_movable, so mmkit gives it a spare bit).
    """

    NONE = 0
    PG_OWNER_PRIV_1 = 1
    PG_RECLAIM = 2
    OWN_BIT = 3


class NewpageRoute(IntEnum):
    """How ``__unmap_and_move`` releases the new page after a successful migration (§4.2).

    PAGE_BALLOON: ``__is_movable_balloon_page(newpage) ? put_page : putback_lru_page``,
    tested after newpage is unlocked (v4.5; unchanged by v3 02).
    PAGE_MOVABLE: ``PageMovable(newpage) ? put_page : putback_lru_page`` (v3-04).
    BALLOON_OR_PAGE_MOVABLE: ``balloon || PageMovable(newpage)`` (v4-02).
    MAPPING_BIT: ``__PageMovable(newpage)``, the sticky mapping bit (K-b11).
    SOURCE_IS_LRU: decided by the source page's is_lru, taken before migration (K-mod).
    """

    PAGE_BALLOON = 0
    PAGE_MOVABLE = 1
    BALLOON_OR_PAGE_MOVABLE = 2
    MAPPING_BIT = 3
    SOURCE_IS_LRU = 4


class FailureRoute(IntEnum):
    """How ``putback_movable_pages`` / ``unmap_and_move`` failure return pages (§4.3).

    V4_5: balloon pages through ``balloon_page_putback``, the rest ``putback_lru_page``.
    V3_02: balloon first; then PageMovable ? (PageIsolated ? driver putback : clear
    movable + put_page) : putback_lru_page.
    V3_04: the generic branch handles balloon pages too.
    V4_8: cheap ``__PageMovable`` test, page lock, then driver putback or clear isolated.
    V6_18: the same on folios / movable_ops (K-mod).
    """

    V4_5 = 0
    V3_02 = 1
    V3_04 = 2
    V4_8 = 3
    V6_18 = 4


class CmaCleanRule(IntEnum):
    """Which clean file pages ``reclaim_clean_pages_from_list`` drops (§4.4).

    NOT_BALLOON: file && !dirty && !PageBalloon (v4.5, v3-02).
    NOT_ISOLATED: file && !dirty && !PageIsolated (v3-04, v3-04-reviewed; R-04 point 3).
    NOT_MOVABLE: file && !dirty && !__PageMovable (v4.8).
    MOVABLE_OPS_THEN_EVICTABLE: movable_ops pages first skipped, then file && !dirty &&
    !unevictable (v6.18; U-2019).
    """

    NOT_BALLOON = 0
    NOT_ISOLATED = 1
    NOT_MOVABLE = 2
    MOVABLE_OPS_THEN_EVICTABLE = 3


class SwapcacheBit(IntEnum):
    """Which flag PG_swapcache is: its own bit (to v4.9), or PG_owner_priv_1, valid only with
    PG_swapbacked (v4.10+: 6326fec1122c "mm: Use owner_priv bit for PageSwapCache")."""

    OWN = 0
    PG_OWNER_PRIV_1 = 1


class FallbackRule(IntEnum):
    """What ``__rmqueue_fallback`` does when the requested migratetype's free lists are
    empty and a block is taken from a fallback type (``fallbacks[][]``).

    MOVE_FREE_CLAIM_HALF_FREE: v4.5 ``steal_suitable_fallback``. When stealing is allowed
    (``can_steal_fallback``: a block of pageblock order or more, half of it or more, or an
    unmovable/reclaimable request), every free block of the pageblock moves to the
    requested type's lists (``move_freepages_block``, at their heads) and the pageblock is
    the requested type's if that moved at least half a pageblock; the block taken is split
    onto the requested type's lists whatever happened to its pageblock, so free lists can
    hold pages whose pageblock is of another type.
    MOVE_FREE_CLAIM_HALF_ALIKE: v4.12 to v6.9 (02aa0cdd7248 "count movable pages when
    stealing from pageblock", 3bc48f96cf11 "split smallest stolen page in fallback"):
    the pageblock is taken if its free pages plus the pages "alike" the request are half a
    pageblock (for a movable request, LRU and non-LRU movable pages; for another request
    falling back to a MOVABLE pageblock, every page that is neither; else none); a request
    that may not steal the block moves only that block to its lists, and a movable request
    that may not steal takes the smallest fallback block, not the largest; the allocation
    is then ``__rmqueue_smallest`` of the requested type.
    CLAIM_OR_STEAL_ONE: v6.10 and later (Johannes Weiner's "freelist migratetype
    hygiene"; ``try_to_claim_block`` and ``__rmqueue_steal`` since v6.15): a free page is
    always on the list of its pageblock's type. ``__rmqueue_claim`` goes down from the
    largest order and takes a whole pageblock (free + alike pages at least half of it, the
    pageblock inside the zone), moving its free blocks to the tail of the requested type's
    lists; if no pageblock can be claimed, ``__rmqueue_steal`` takes the smallest fallback
    block and splits it on its own pageblock's lists (the pageblock keeps its type).
    Blocks freed across pageblocks of two types retype the buddy's pageblock (see
    :class:`PageblockMerge`), and compaction's free scanner moves a pageblock's free
    blocks with the pageblock it makes MOVABLE.
    """

    MOVE_FREE_CLAIM_HALF_FREE = 0
    MOVE_FREE_CLAIM_HALF_ALIKE = 1
    CLAIM_OR_STEAL_ONE = 2


class PageblockMerge(IntEnum):
    """Whether ``__free_one_page`` merges a block of pageblock order or more with a buddy
    whose pageblock has another migratetype.

    ANY: always (v4.5).
    NOT_ISOLATE: not when either pageblock is MIGRATE_ISOLATE, tested while the zone has
    isolated pageblocks (d9dddbf55667 "prevent merging between isolated and other
    pageblocks", v4.6).
    NOT_UNMERGEABLE: not when either type cannot merge with others (ISOLATE, CMA,
    HIGHATOMIC: ``migratetype_is_mergeable``; 1dd214b8f21c, v5.18); with
    ``FallbackRule.CLAIM_OR_STEAL_ONE`` the buddy's pageblock takes the freed block's type
    when they do merge (v6.10, "Match buddy type").
    """

    ANY = 0
    NOT_ISOLATE = 1
    NOT_UNMERGEABLE = 2
