"""struct page flag bits (``enum pageflags``), with the aliases that matter to the series.

Bits are numbered as in v4.5 ``include/linux/page-flags.h`` (x86-64, 64-bit, with
CONFIG_IDLE_PAGE_TRACKING). The numbering is mmkit's storage: what a bit *means* in a
given era is decided by the Variant (see ``mmkit.semantics``). Aliases that never change
meaning are plain names here; era-dependent ones (PG_isolated, PG_movable, PG_swapcache,
PG_movable_ops) are resolved through the Variant (SEMANTICS.md §2).
"""

from __future__ import annotations

PG_locked = 0
PG_error = 1
PG_referenced = 2
PG_uptodate = 3
PG_dirty = 4
PG_lru = 5
PG_active = 6
PG_slab = 7
PG_owner_priv_1 = 8
PG_arch_1 = 9
PG_reserved = 10
PG_private = 11
PG_private_2 = 12
PG_writeback = 13
PG_head = 14
PG_swapcache_own = 15  # PG_swapcache up to v4.9; from v4.10 it is PG_owner_priv_1 (valid with PG_swapbacked)
PG_mappedtodisk = 16
PG_reclaim = 17
PG_swapbacked = 18
PG_unevictable = 19
PG_mlocked = 20
PG_uncached = 21
PG_hwpoison = 22
PG_young = 23
PG_idle = 24
PG_isolated_own = 25  # a spare bit: PG_isolated when a variant gives it a bit of its own
NR_PAGEFLAGS = 26

# Aliases whose meaning is the same in every modelled era (SEMANTICS.md §2).
PG_checked = PG_owner_priv_1  # filesystems; ext4 data=journal sets it
PG_pinned = PG_owner_priv_1  # Xen page tables
PG_foreign = PG_owner_priv_1  # Xen foreign pages
PG_fscache = PG_private_2  # fscache / btrfs ordered extents
PG_movable_ops = PG_uptodate  # mid-2025: meaningful on typed pages only (K-pf25)

PAGEFLAG_NAMES: dict[int, str] = {
    PG_locked: "PG_locked",
    PG_error: "PG_error",
    PG_referenced: "PG_referenced",
    PG_uptodate: "PG_uptodate",
    PG_dirty: "PG_dirty",
    PG_lru: "PG_lru",
    PG_active: "PG_active",
    PG_slab: "PG_slab",
    PG_owner_priv_1: "PG_owner_priv_1",
    PG_arch_1: "PG_arch_1",
    PG_reserved: "PG_reserved",
    PG_private: "PG_private",
    PG_private_2: "PG_private_2",
    PG_writeback: "PG_writeback",
    PG_head: "PG_head",
    PG_swapcache_own: "PG_swapcache",
    PG_mappedtodisk: "PG_mappedtodisk",
    PG_reclaim: "PG_reclaim",
    PG_swapbacked: "PG_swapbacked",
    PG_unevictable: "PG_unevictable",
    PG_mlocked: "PG_mlocked",
    PG_uncached: "PG_uncached",
    PG_hwpoison: "PG_hwpoison",
    PG_young: "PG_young",
    PG_idle: "PG_idle",
    PG_isolated_own: "PG_isolated",
}


def bit(pg: int) -> int:
    """The mask of flag bit ``pg`` in ``Memory.flags``."""
    return 1 << pg


def flag_names(flags: int) -> list[str]:
    """Names of the set bits of a ``Memory.flags`` word, in bit order."""
    return [name for b, name in sorted(PAGEFLAG_NAMES.items()) if flags >> b & 1]
