"""``/proc/kpageflags`` bit numbers (K-kpf): uapi bits 0-26 and kernel-internal 32-42.

Bit 23 is KPF_BALLOON until v5.0 and KPF_OFFLINE after (O-2018); both names map to 23.
Bit 34 was KPF_MAPPEDTODISK and is KPF_OWNER_2 today.
"""

from __future__ import annotations

from mmkit.model import flags as _pg

KPF_LOCKED = 0
KPF_ERROR = 1
KPF_REFERENCED = 2
KPF_UPTODATE = 3
KPF_DIRTY = 4
KPF_LRU = 5
KPF_ACTIVE = 6
KPF_SLAB = 7
KPF_WRITEBACK = 8
KPF_RECLAIM = 9
KPF_BUDDY = 10
KPF_MMAP = 11
KPF_ANON = 12
KPF_SWAPCACHE = 13
KPF_SWAPBACKED = 14
KPF_COMPOUND_HEAD = 15
KPF_COMPOUND_TAIL = 16
KPF_HUGE = 17
KPF_UNEVICTABLE = 18
KPF_HWPOISON = 19
KPF_NOPAGE = 20
KPF_KSM = 21
KPF_THP = 22
KPF_BALLOON = 23
KPF_OFFLINE = 23
KPF_ZERO_PAGE = 24
KPF_IDLE = 25
KPF_PGTABLE = 26

KPF_RESERVED = 32
KPF_MLOCKED = 33
KPF_MAPPEDTODISK = 34
KPF_OWNER_2 = 34
KPF_PRIVATE = 35
KPF_PRIVATE_2 = 36
KPF_OWNER_PRIVATE = 37
KPF_ARCH = 38
KPF_UNCACHED = 39
KPF_SOFTDIRTY = 40
KPF_ARCH_2 = 41
KPF_ARCH_3 = 42

# Names as today's kernel headers spell them (bit 23 -> "offline", 34 -> "owner_2").
KPF_NAMES: dict[int, str] = {
    KPF_LOCKED: "locked",
    KPF_ERROR: "error",
    KPF_REFERENCED: "referenced",
    KPF_UPTODATE: "uptodate",
    KPF_DIRTY: "dirty",
    KPF_LRU: "lru",
    KPF_ACTIVE: "active",
    KPF_SLAB: "slab",
    KPF_WRITEBACK: "writeback",
    KPF_RECLAIM: "reclaim",
    KPF_BUDDY: "buddy",
    KPF_MMAP: "mmap",
    KPF_ANON: "anonymous",
    KPF_SWAPCACHE: "swapcache",
    KPF_SWAPBACKED: "swapbacked",
    KPF_COMPOUND_HEAD: "compound_head",
    KPF_COMPOUND_TAIL: "compound_tail",
    KPF_HUGE: "huge",
    KPF_UNEVICTABLE: "unevictable",
    KPF_HWPOISON: "hwpoison",
    KPF_NOPAGE: "nopage",
    KPF_KSM: "ksm",
    KPF_THP: "thp",
    KPF_OFFLINE: "offline",
    KPF_ZERO_PAGE: "zero_page",
    KPF_IDLE: "idle_page",
    KPF_PGTABLE: "pgtable",
    KPF_RESERVED: "reserved",
    KPF_MLOCKED: "mlocked",
    KPF_OWNER_2: "owner_2",
    KPF_PRIVATE: "private",
    KPF_PRIVATE_2: "private_2",
    KPF_OWNER_PRIVATE: "owner_private",
    KPF_ARCH: "arch",
    KPF_UNCACHED: "uncached",
    KPF_SOFTDIRTY: "softdirty",
    KPF_ARCH_2: "arch_2",
    KPF_ARCH_3: "arch_3",
}

KPF_UAPI_MASK = (1 << 27) - 1
KPF_INTERNAL_MASK = ((1 << 43) - 1) & ~((1 << 32) - 1)

# The page flags stable_page_flags copies as they are (kpf_copy_bit) on x86-64: the
# engine's emulation reports them, the snapshot rebuild carries them back.
KPF_COPIED_PG: tuple[tuple[int, int], ...] = (
    (KPF_LOCKED, _pg.PG_locked),
    (KPF_ERROR, _pg.PG_error),
    (KPF_REFERENCED, _pg.PG_referenced),
    (KPF_UPTODATE, _pg.PG_uptodate),
    (KPF_DIRTY, _pg.PG_dirty),
    (KPF_LRU, _pg.PG_lru),
    (KPF_ACTIVE, _pg.PG_active),
    (KPF_WRITEBACK, _pg.PG_writeback),
    (KPF_RECLAIM, _pg.PG_reclaim),
    (KPF_SWAPBACKED, _pg.PG_swapbacked),
    (KPF_UNEVICTABLE, _pg.PG_unevictable),
    (KPF_MLOCKED, _pg.PG_mlocked),
    (KPF_HWPOISON, _pg.PG_hwpoison),
    (KPF_RESERVED, _pg.PG_reserved),
    (KPF_MAPPEDTODISK, _pg.PG_mappedtodisk),
    (KPF_PRIVATE, _pg.PG_private),
    (KPF_PRIVATE_2, _pg.PG_private_2),
    (KPF_OWNER_PRIVATE, _pg.PG_owner_priv_1),
    (KPF_ARCH, _pg.PG_arch_1),
    (KPF_IDLE, _pg.PG_idle),
)
