"""Simulation state beyond the page arrays: the event log, vmstat counters, fault
counters, owner tables (balloon, zsmalloc) and the seeded random generator.

All of it is numpy arrays in one namedtuple (``SimArrays``) that the kernels take next to
``PageArrays``. Event and counter codes are module constants, named after the kernel's
vmstat items where the kernel has one.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from mmkit.engine.byref import by_reference
from mmkit.engine.jit import kernel

from mmkit.model.codes import check_codes
from mmkit.model.events import EVENT_NAMES, FAULT_NAMES, OOPS_ISOLATE_MOVABLE_PAGE, OOPS_PAGE_BUFFERS  # noqa: F401
from mmkit.model.kinds import NR_KINDS

# ----------------------------------------------------------------- events
# the events, one row each, are declared in mmkit.model.events
NR_EVENTS = len(EVENT_NAMES)
EV_ISOLATED = 0
EV_MIGRATED = 1
EV_MIGRATE_FAILED = 2
EV_PUTBACK_LRU = 3
EV_PUTBACK_MOVABLE = 4
EV_PUT_PAGE_NEWPAGE = 5
EV_MISROUTED_PUTBACK = 6
EV_LRU_CORRUPTION = 7
EV_OBJECTS_LOST = 8
EV_LIST_CORRUPTION = 9
EV_OOPS = 10
EV_CMA_SKIP_FALSE_POSITIVE = 11
EV_KPF_BALLOON_MISREPORT = 12
EV_DEFLATE_RACE = 13
EV_LOST_FROM_LRU = 14
EV_ISOLATED_FALSE_POSITIVE = 15
EV_NONLRU_TO_RECLAIM = 16
EV_BAD_PAGE_FREED = 17
EV_RELEASED_FALSE_POSITIVE = 18

# events that are faults (the rest are ordinary traffic)
FAULT_EVENTS = tuple(EVENT_NAMES.index(n) for n in FAULT_NAMES)
# ordinary traffic is only logged when asked (log_traffic), faults always
EVENT_FIELDS = ("tick", "pfn", "event", "kind", "rule", "extra")
RULE_NONE = -1

# ----------------------------------------------------------------- vmstat
VMSTAT_NAMES = (
    "compact_stall",
    "compact_fail",
    "compact_success",
    "compact_migrate_scanned",
    "compact_free_scanned",
    "compact_isolated",
    "compact_daemon_wake",
    "pgmigrate_success",
    "pgmigrate_fail",
    "balloon_inflate",
    "balloon_deflate",
    "balloon_migrate",
    "pgscan",
    "pgsteal",
    "pswpout",
    "pswpin",
    "thp_fault_alloc",
    "thp_fault_fallback",
    "order2_alloc",
    "order2_fail",
    "order3_alloc",
    "order3_fail",
    "alloc_fail",
    "cma_alloc_success",
    "cma_alloc_fail",
    "cma_reclaimed",
    "cma_migrated",
    "zspage_alloc",
    "zspage_free",
    "oom",
    "cma_alloc_busy_retry",
)
# the counters that are not /proc/vmstat items of the same name (mm/vmstat.c
# vmstat_text[]): mmkit's own (the kernel counts pgscan and pgsteal per reclaimer and
# type, and an OOM kill as oom_kill; cma_alloc_busy_retry is the trace event of that
# name, one per -EBUSY in cma_alloc's walk); every other counter is the kernel's item
VMSTAT_MMKIT_OWN = frozenset({"pgscan", "pgsteal", "order2_alloc", "order2_fail", "order3_alloc", "order3_fail",
                              "alloc_fail", "cma_reclaimed", "cma_migrated", "zspage_alloc", "zspage_free", "oom",
                              "cma_alloc_busy_retry"})
NR_VMSTAT = len(VMSTAT_NAMES)
VM_COMPACT_STALL = 0
VM_COMPACT_FAIL = 1
VM_COMPACT_SUCCESS = 2
VM_COMPACT_MIGRATE_SCANNED = 3
VM_COMPACT_FREE_SCANNED = 4
VM_COMPACT_ISOLATED = 5
VM_COMPACT_DAEMON_WAKE = 6
VM_PGMIGRATE_SUCCESS = 7
VM_PGMIGRATE_FAIL = 8
VM_BALLOON_INFLATE = 9
VM_BALLOON_DEFLATE = 10
VM_BALLOON_MIGRATE = 11
VM_PGSCAN = 12
VM_PGSTEAL = 13
VM_PSWPOUT = 14
VM_PSWPIN = 15
VM_THP_FAULT_ALLOC = 16
VM_THP_FAULT_FALLBACK = 17
VM_ORDER2_ALLOC = 18
VM_ORDER2_FAIL = 19
VM_ORDER3_ALLOC = 20
VM_ORDER3_FAIL = 21
VM_ALLOC_FAIL = 22
VM_CMA_ALLOC_SUCCESS = 23
VM_CMA_ALLOC_FAIL = 24
VM_CMA_RECLAIMED = 25
VM_CMA_MIGRATED = 26
VM_ZSPAGE_ALLOC = 27
VM_ZSPAGE_FREE = 28
VM_OOM = 29
VM_CMA_ALLOC_BUSY_RETRY = 30
check_codes(globals(), "VM_", VMSTAT_NAMES, __name__, "VMSTAT_NAMES")
check_codes(globals(), "EV_", EVENT_NAMES, __name__, "mmkit.model.events' rows")

# ----------------------------------------------------------------- misc list heads
HEAD_BALLOON = 0  # balloon->pages
HEAD_MIGRATEPAGES = 1  # cc->migratepages
HEAD_FREEPAGES = 2  # cc->freepages
HEAD_DEFLATE = 3  # pages a deflate dequeued and has yet to release
HEAD_CONTIG = 4  # alloc_contig_range's private list
HEAD_FREEPAGES_ORDER1 = 5  # cc->freepages[1..10] (compact_large_folios): heads 5..14
HEAD_SPLIT = 15  # migrate_pages' split_folios

# ----------------------------------------------------------------- scalar state
# st[] slots: int64 scalars the kernels share
ST_RNG = 0  # splitmix64 state (as int64 bits)
ST_TICK = 1
ST_NEV = 2  # events written
ST_NEV_DROPPED = 3  # events that did not fit
ST_BALLOON_PAGES = 4  # pages in the balloon (on its list or isolated)
ST_BALLOON_ISOLATED = 5
ST_ZS_LIVE = 6  # live zspages
ST_ZS_OBJECTS = 7  # live compressed objects
ST_LOG_TRAFFIC = 8  # 1: log ordinary events too
ST_OOPSED = 9  # compaction stopped by an oops (v3-02)
ST_RACE_PPM = 10  # deflate race probability, parts per million
ST_FAIL_PPM = 11  # transient migration failure probability, ppm
ST_CONCURRENT_PPM = 12  # another compactor holds a balloon page, ppm
ST_OWNER_NEXT = 13  # next owner id (inode / anon_vma) for workloads
ST_BLOCKSKIP_FLUSH = 14  # bit z: zone z's skip bits are cleared at its next compaction
ST_SWAP_ENABLED = 15  # 1: reclaim may swap anon pages into zram
ST_CMA_HELD = 16  # first pfn of the contiguous range the workload holds, or -1
ST_CMA_START = 17  # first pfn of the CMA area, or -1
ST_NS = 18  # timeline samples written
ST_ZS_IDS_USED = 19  # zspage ids handed out at least once (0..this-1)
ST_PREFILL_MISSES = 20  # a prefill cut into pieces: fast-path failures in a row so far
ST_MANAGED = 21  # the run's managed pages, counted by its first run_ticks (0: not yet)
ST_PROACTIVE_WAIT = 22  # ticks until kcompactd's next proactive check (its wait's timeout)
ST_PROACTIVE_BUSY = 23  # 1: kcompactd's proactive run is going on (from tick to tick)
ST_PROACTIVE_PREV = 24  # the node's fragmentation score when that run began
ST_KCOMPACTD_PENDING = 25  # highest order kcompactd was woken for during that run
ST_PROACTIVE_ZONE = 26  # the zone that run is compacting (or begins next)
ST_PROACTIVE_IN_ZONE = 27  # 1: that zone's compact_zone has begun (its scanners in S.cc's kcompactd row)
NR_ST = 28

ZS_MAX_PAGES = 4
NR_ZS_CLASSES = 5  # 1, 2, 3, 4 pages per zspage, and the huge class (1 page, 1 object)
ZS_HUGE_CLASS = 4

SimArrays = namedtuple(
    "SimArrays",
    ["st", "vm", "faults", "events", "zs_pages", "zs_npages", "zs_objs", "zs_max", "zs_class",
     "zs_free_ids", "zs_current", "zc", "cc", "obj_page"],
)
by_reference(SimArrays)
# replay (mmkit.replay): S.obj_page[oid] is the head pfn of object ``oid`` in this
# simulation (-1: gone); an anonymous or file object's pages carry ``oid +
# REPLAY_TAG_BASE`` as their ->mapping id, which migration follows (migrate.replay_follow).
# Empty outside a replay.
REPLAY_TAG_BASE = 16

# struct compact_control (mm/internal.h), as an int64 array: a row of S.cc, or new_cc's
CC_ORDER = 0
CC_SYNC = 1
CC_MIGRATE_PFN = 2
CC_FREE_PFN = 3
CC_NR_MIGRATE = 4
CC_NR_FREE = 5
CC_ZONE = 6
CC_IGNORE_SKIP = 7
CC_MIGRATETYPE = 8
CC_CONTENDED = 9
CC_MIGRATED = 10
CC_FAILED = 11
CC_FINISH_PAGEBLOCK = 12
CC_RESULT = 13  # compact_zone cut into pieces: the result so far
CC_LAST_MIGRATED = 14  # and its last_migrated (compact_finish_pageblock)
CC_DRAIN_PFN = 15  # v4.x compact_zone's last_migrated_pfn for the per-CPU list flush (0: none)
CC_PROACTIVE = 16  # cc->proactive_compaction (v5.9)
CC_DIRECT = 17  # cc->direct_compaction
CC_FAST_SEARCH_FAIL = 18  # cc->fast_search_fail (v5.1)
CC_FAST_START_PFN = 19  # cc->fast_start_pfn; FAST_START_USED: ULONG_MAX, used
CC_SEARCH_ORDER = 20  # cc->search_order
NR_CC = 21
FAST_START_USED = -1

# the compact_control buffers (rows of S.cc), so that no kernel allocates one: compaction
# from the allocator or kcompactd, and alloc_contig_range
CC_ROW_COMPACT = 0
CC_ROW_CONTIG = 1
CC_ROW_KCOMPACTD = 2  # kcompactd's proactive run, kept from tick to tick


def new_sim(seed: int, event_capacity: int = 1 << 16, zs_capacity: int = 1 << 16,
            log_traffic: bool = False) -> SimArrays:
    """Fresh simulation state with its generator seeded from ``seed``."""
    st = np.zeros(NR_ST, dtype=np.int64)
    st[ST_RNG] = np.int64(np.uint64(seed * 0x9E3779B97F4A7C15 % 2**64).view(np.int64))
    st[ST_LOG_TRAFFIC] = int(log_traffic)
    st[ST_OWNER_NEXT] = 16
    st[ST_CMA_HELD] = -1
    st[ST_CMA_START] = -1
    return SimArrays(
        st=st,
        vm=np.zeros(NR_VMSTAT, dtype=np.int64),
        faults=np.zeros((NR_EVENTS, NR_KINDS), dtype=np.int64),
        events=np.zeros((event_capacity, len(EVENT_FIELDS)), dtype=np.int64),
        # the zspage tables are left unwritten (no memory touched up front): an id's row
        # is set when alloc_zspage first hands the id out (ST_ZS_IDS_USED)
        zs_pages=np.empty((zs_capacity, ZS_MAX_PAGES), dtype=np.int64),
        zs_npages=np.zeros(zs_capacity, dtype=np.int64),
        zs_objs=np.zeros(zs_capacity, dtype=np.int64),
        zs_max=np.zeros(zs_capacity, dtype=np.int64),
        zs_class=np.empty(zs_capacity, dtype=np.int64),
        # a stack of free ids, popped from the end, live ids below the end; it starts as
        # cap-1 .. 0, and a slot not yet popped is written when it first is
        zs_free_ids=np.empty(zs_capacity, dtype=np.int64),
        zs_current=np.full(NR_ZS_CLASSES, -1, dtype=np.int64),
        zc=_new_zc(),
        cc=np.zeros((3, NR_CC), dtype=np.int64),
        obj_page=np.zeros(0, dtype=np.int32),
    )


# per-zone compaction state (struct zone's compact_* fields), rows of S.zc
ZC_CONSIDERED = 0  # compact_considered
ZC_DEFER_SHIFT = 1  # compact_defer_shift
ZC_ORDER_FAILED = 2  # compact_order_failed
ZC_MIGRATE_ASYNC = 3  # compact_cached_migrate_pfn[0]; -1: reset
ZC_MIGRATE_SYNC = 4  # compact_cached_migrate_pfn[1]
ZC_FREE = 5  # compact_cached_free_pfn
ZC_INACTIVE_RATIO = 6  # zone->inactive_ratio (anon)
ZC_PRESENT = 7  # zone->present_pages + 1 (0: not counted yet)
ZC_INIT_FREE = 8  # compact_init_free_pfn (v5.1), set where the skip bits are cleared
NR_ZC = 9
MAX_ZONES = 8
COMPACT_MAX_DEFER_SHIFT = 6


def inactive_ratio(managed_pages: int) -> int:
    """v4.5 ``calculate_zone_inactive_ratio``: int_sqrt(10 * gb), 1 below 1 GiB."""
    gb = managed_pages >> 18
    return math.isqrt(10 * gb) if gb else 1


def _new_zc() -> np.ndarray:
    zc = np.zeros((MAX_ZONES, NR_ZC), dtype=np.int64)
    zc[:, ZC_MIGRATE_ASYNC:ZC_FREE + 1] = -1
    zc[:, ZC_INACTIVE_RATIO] = 1
    return zc


# ----------------------------------------------------------------- rng
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@kernel
def rand_u64(S):
    """splitmix64: the one generator every random choice in the engine draws from."""
    x = np.uint64(S.st[ST_RNG]) + _GOLDEN
    S.st[ST_RNG] = np.int64(x)
    z = x
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@kernel
def rand_below(S, n):
    """A draw in [0, n) (modulo bias below 2**-40 for the n used here)."""
    return np.int64(rand_u64(S) % np.uint64(n))


@kernel
def chance_ppm(S, ppm):
    """True with probability ppm / 1e6 (no draw when ppm is 0, so rates of 0 cost nothing)."""
    if ppm <= 0:
        return False
    return rand_below(S, 1000000) < ppm


# ----------------------------------------------------------------- events
@kernel
def record(S, A, pfn, code, rule, extra):
    """Count an event under (code, the page's true kind); log it if it is a fault or if
    traffic logging is on."""
    kind = A.kind[pfn] if pfn >= 0 else 0
    S.faults[code, kind] += 1
    if code < EV_MISROUTED_PUTBACK and S.st[ST_LOG_TRAFFIC] == 0:
        return
    n = S.st[ST_NEV]
    if n < S.events.shape[0]:
        S.events[n, 0] = S.st[ST_TICK]
        S.events[n, 1] = pfn
        S.events[n, 2] = code
        S.events[n, 3] = kind
        S.events[n, 4] = rule
        S.events[n, 5] = extra
        S.st[ST_NEV] = n + 1
    else:
        S.st[ST_NEV_DROPPED] += 1
