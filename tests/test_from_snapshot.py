"""Rebuilding a Memory from a real snapshot: classification, buddy free lists against
buddyinfo, pageblock types against pagetypeinfo, the kpageflags round trip, the
buddyinfo printer, and bad input.

The fixture ``tests/data/linux-6.18-idle`` was captured before ``capture`` re-read
buddyinfo around the arrays: its kpageflags holds 15 fewer free order-2 blocks in Normal
than its buddyinfo (the kernel freed them between the two reads). ``data/idle`` and
``data/fragmented`` were captured consistently and agree exactly.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import mmkit
import mmkit.snapshot
from mmkit.engine.lists import lru_head
from mmkit.errors import ParameterError, SnapshotError
from mmkit.model import flags as pg
from mmkit.model.encodings import PAGE_BUDDY_MAPCOUNT_VALUE, PGTY_buddy, PGTY_slab, pgty_store
from mmkit.model.kinds import MAX_ORDER, MIGRATETYPE_NAMES, NR_LRU_LISTS, PageKind
from mmkit.engine.rebuild import buddy_blocks
from mmkit.from_snapshot import build_memory, from_snapshot_report

ROOT = Path(__file__).parent.parent
FIXTURE = Path(__file__).parent / "data" / "linux-6.18-idle"
FRAGMENTED = ROOT / "data" / "fragmented"
IDLE = ROOT / "data" / "idle"


@pytest.fixture(scope="module")
def fixture_snap():
    return mmkit.snapshot.load(FIXTURE)


@pytest.fixture(scope="module")
def fixture_mem(fixture_snap):
    return build_memory(fixture_snap)


@pytest.fixture(scope="module")
def fixture_report(fixture_snap, fixture_mem):
    return from_snapshot_report(fixture_snap, fixture_mem)


@pytest.fixture(scope="module")
def fragmented():
    snap = mmkit.snapshot.load(FRAGMENTED)
    return snap, build_memory(snap)


@pytest.fixture(scope="module")
def idle():
    snap = mmkit.snapshot.load(IDLE)
    return snap, build_memory(snap)


# ------------------------------------------------------------------ classification
def test_fixture_classification_counts(fixture_mem):
    kinds = fixture_mem.meta["from_snapshot"]["kinds"]
    assert kinds == {
        "HOLE": 262145, "RESERVED": 9673, "FREE": 1091321, "KERNEL": 9060, "PAGETABLE": 341, "SLAB": 3977,
        "SLAB_RECLAIMABLE": 14082, "ANON": 32485, "FILE": 50434, "UNINIT": 5079040, "PCP": 1042,
    }
    counts = np.bincount(fixture_mem.kind, minlength=len(PageKind))
    assert {PageKind(i).name: int(c) for i, c in enumerate(counts) if c} == kinds
    assert sum(kinds.values()) == fixture_mem.nr_pages == 6553600


def test_fixture_zones_holes_and_uninit(fixture_mem):
    """DMA32's absent pages are the 3-4 GiB hole, Normal's unmanaged tail is deferred
    init; DMA's 97 absent pfns read as reserved in kpageflags, so none is a hole."""
    rows = {z["zone"]: z for z in fixture_mem.meta["from_snapshot"]["zones"]}
    assert rows["DMA32"]["holes_found"] == rows["DMA32"]["absent_expected"] == 262144
    assert rows["Normal"]["uninit_found"] == rows["Normal"]["uninit_expected"] == 5079040
    assert rows["DMA"]["holes_found"] == 0 and rows["DMA"]["absent_expected"] == 97
    assert (fixture_mem.kind[0xC0000:0x100000] == PageKind.HOLE).all()
    assert (fixture_mem.kind[0x168000:0x640000] == PageKind.UNINIT).all()
    assert fixture_mem.kind[0] == PageKind.HOLE  # pfn 0 is outside every zone
    assert list(fixture_mem.zone_names) == ["DMA", "DMA32", "Normal"]
    # zoneinfo's min / low / high, as printed
    assert fixture_mem.wmark.tolist() == [[53, 66, 79], [10857, 13571, 16285], [5984, 7480, 8976]]
    assert fixture_mem.zone_present.tolist() == [3998, 782336, 5505024]


def test_compound_pages_are_encoded(fixture_snap, fixture_mem):
    comp = fixture_mem.meta["from_snapshot"]["compound"]
    assert comp["anon:9"] == 48 and comp["file:9"] == 25
    assert fixture_mem.meta["from_snapshot"]["compound_rejected"] == 0
    heads = np.flatnonzero(fixture_mem.flags & (1 << pg.PG_head))
    for h in heads[:200]:
        order = int(fixture_mem.private[h + 1])
        tails = fixture_mem.lru_next[h + 1:h + (1 << order)]
        assert (tails == -2 - h).all()
        assert (fixture_mem.kind[h:h + (1 << order)] == fixture_mem.kind[h]).all()
        assert (fixture_mem.refcount[h + 1:h + (1 << order)] == 0).all() and fixture_mem.refcount[h] == 1


def test_memory_check_passes(fixture_mem, fragmented):
    fixture_mem.check()
    fragmented[1].check()


def test_lru_lists_hold_every_lru_head(fixture_snap, fixture_mem):
    m = fixture_mem
    lru = (m.flags >> pg.PG_lru) & 1 == 1
    assert int(lru.sum()) == m.meta["from_snapshot"]["lru_pages"]
    A = m.arrays()
    on_lists = 0
    for z in range(m.nr_zones):
        for lst in range(NR_LRU_LISTS):
            head = lru_head(A, z, lst)
            node = int(m.lru_next[head])
            while node != head:
                assert lru[node]
                on_lists += 1
                node = int(m.lru_next[node])
    assert on_lists == int(lru.sum())
    assert (m.refcount[lru] == 1).all()


def test_variant_encodings(fixture_snap):
    """The same snapshot under v4.5 and v6.18: PageBuddy and slab in each era's encoding."""
    old = build_memory(fixture_snap, variant="v4.5")
    new = build_memory(fixture_snap, variant="v6.18")
    old.check()
    heads_free = np.flatnonzero(new.mapcount == pgty_store(PGTY_buddy))
    assert heads_free.size == int(new.nr_free.sum())
    assert (old.mapcount[heads_free] == PAGE_BUDDY_MAPCOUNT_VALUE).all()
    slab_head = np.flatnonzero((new.kind == PageKind.SLAB) & (new.lru_next[:new.nr_pages] > -2))[0]
    assert new.mapcount[slab_head] == pgty_store(PGTY_slab) and not new.flags[slab_head] >> pg.PG_slab & 1
    assert old.flags[slab_head] >> pg.PG_slab & 1 and old.mapcount[slab_head] == -1
    assert old.variant.name == "v4.5" and new.variant.name == "v6.18"


def test_memory_from_snapshot_classmethod():
    mem = mmkit.Memory.from_snapshot(FRAGMENTED)
    assert mem.variant.name == "v6.18" and mem.meta["snapshot_path"] == str(FRAGMENTED)
    assert mmkit.snapshot.build_memory is build_memory


# ------------------------------------------------------------------ buddy free lists
def test_buddyinfo_agreement_consistent_snapshots(fragmented, idle):
    snap, mem = fragmented
    rep = from_snapshot_report(snap, mem)
    assert rep.buddyinfo_exact
    assert [r["zone"] for r in rep.buddyinfo] == ["DMA", "DMA32", "Normal"]
    assert (idle[1].nr_free == idle[0].nr_free).all()


def test_buddyinfo_agreement_fixture(fixture_report):
    rows = {r["zone"]: r for r in fixture_report.buddyinfo}
    assert rows["DMA"]["exact"] and rows["DMA32"]["exact"]
    assert rows["Normal"]["diff"] == [0, 0, -15, 0, 0, 0, 0, 0, 0, 0, 0]
    assert rows["Normal"]["free_pages_built"] == rows["Normal"]["free_pages_kernel"] - 60


def test_free_blocks_are_buddy_heads_on_their_pageblock_list(fragmented):
    _snap, mem = fragmented
    heads = np.flatnonzero(mem.mapcount == pgty_store(PGTY_buddy))
    orders = mem.private[heads]
    assert (heads & ((1 << orders) - 1) == 0).all()
    assert int((1 << orders.astype(np.int64)).sum()) == int((mem.kind == PageKind.FREE).sum())


def test_buddy_blocks_are_maximally_merged():
    """Random free masks: the blocks tile the mask exactly, are naturally aligned, and no
    two free buddies of one order are left unmerged (what __free_one_page guarantees)."""
    rng = np.random.default_rng(7)
    n = 1 << 14
    for density in (0.2, 0.5, 0.9, 0.99):
        free = rng.random(n) < density
        free[rng.integers(0, n, 5)] = False
        heads, orders, _ = buddy_blocks(free, np.array([1, 5000], np.int64), np.array([5000, n], np.int64))
        cover = np.zeros(n, dtype=np.int64)
        for h, o in zip(heads, orders):
            assert h % (1 << o) == 0 and o < MAX_ORDER
            cover[h:h + (1 << o)] += 1
        expect = free.copy()
        expect[0] = False
        assert (cover == expect).all()
        blocks = set(zip(heads.tolist(), orders.tolist()))
        for h, o in blocks:
            buddy = h ^ (1 << o)
            if o < MAX_ORDER - 1 and (buddy, o) in blocks:
                assert (h < 5000) != (buddy < 5000)  # only a zone boundary keeps them apart


# ------------------------------------------------------------------ pageblocks
@pytest.mark.parametrize("which", ["fixture", "fragmented"])
def test_pageblock_counts_match_pagetypeinfo(which, fixture_mem, fragmented):
    mem = fixture_mem if which == "fixture" else fragmented[1]
    for row in mem.meta["from_snapshot"]["pageblocks"]:
        assert row["source"] == "pagetypeinfo"
        for t in MIGRATETYPE_NAMES:
            assert row[f"{t}_built"] == row[f"{t}_target"], (row["zone"], t)
    errors = {r["zone"]: r["free_error_by_type"] for r in mem.meta["from_snapshot"]["pageblocks"]}
    if which == "fragmented":
        assert all(v == 0 for e in errors.values() for v in e.values())
    else:  # the 15 order-2 blocks the fixture's kpageflags lacks were on the Unmovable list
        assert errors["Normal"] == {"Unmovable": 15, "Movable": 0, "Reclaimable": 0}


def test_slab_in_reclaimable_blocks_is_reclaimable(fragmented):
    _snap, mem = fragmented
    mt = mem.pb_flags[np.arange(mem.nr_pages) >> 9] & 7
    recl = mem.kind == PageKind.SLAB_RECLAIMABLE
    assert recl.any() and (mt[recl] == mmkit.MigrateType.RECLAIMABLE).all()
    assert not (mt[mem.kind == PageKind.SLAB] == mmkit.MigrateType.RECLAIMABLE).any()


def test_uninitialised_and_hole_pageblocks_are_not_targets(fixture_mem):
    """Their pageblock bitmap was never written: MIGRATE_UNMOVABLE (0)."""
    assert (fixture_mem.pb_flags[0xC0000 >> 9:0x100000 >> 9] == 0).all()
    assert (fixture_mem.pb_flags[0x168000 >> 9:] == 0).all()


# ------------------------------------------------------------------ round trip
def test_kpageflags_round_trip(fixture_report):
    """Measured on the fixture: 95.285 % of all pfns, 99.256 % of page frames, 99.982 % of
    page frames if tail pages showed their folio's flags (6.18 stable_page_flags)."""
    r = fixture_report
    assert r.nr_pfns == 6553600 and r.nr_frames == 6291455
    assert r.roundtrip_pct >= 95.0
    assert r.roundtrip_frames_pct >= 99.0
    assert r.roundtrip_folio_flags_frames_pct >= 99.9
    bits = {b["name"]: b for b in r.roundtrip_bits}
    for name in ("buddy", "slab", "pgtable", "anonymous", "mmap", "ksm", "compound_head", "compound_tail",
                 "mlocked", "unevictable", "swapcache", "offline", "owner_private"):
        assert bits[name]["mismatch"] == 0, name
    assert bits["nopage"]["mismatch"] == 262145  # the 3-4 GiB hole reads as flags 0, and pfn 0
    assert bits["reserved"]["mismatch"] == 1  # pfn 0: reserved, outside every zone
    assert "round trip" in r.text()


# ------------------------------------------------------------------ buddyinfo printer
@pytest.mark.parametrize("folder", [FIXTURE, FRAGMENTED, IDLE], ids=["fixture", "fragmented", "idle"])
def test_buddyinfo_text_of_snapshot_is_byte_exact(folder):
    snap = mmkit.snapshot.load(folder)
    assert mmkit.snapshot.buddyinfo(snap) == (folder / "buddyinfo").read_text()


def test_buddyinfo_text_of_rebuilt_memory_is_byte_exact(fragmented, idle):
    assert mmkit.snapshot.buddyinfo(fragmented[1]) == (FRAGMENTED / "buddyinfo").read_text()
    assert mmkit.snapshot.buddyinfo(idle[1]) == (IDLE / "buddyinfo").read_text()


def test_buddyinfo_text_of_fixture_memory(fixture_mem):
    built = mmkit.snapshot.buddyinfo(fixture_mem).splitlines(keepends=True)
    kernel = (FIXTURE / "buddyinfo").read_text().splitlines(keepends=True)
    assert built[:2] == kernel[:2]
    assert built[2] == ("Node 0, zone   Normal   1091    774    451    227     97    244    211    142     76"
                        "      0    242 \n")
    assert kernel[2].split()[6] == "466"


def test_buddyinfo_text_skips_unpopulated_zones_and_checks_input(fixture_mem):
    mem = fixture_mem.copy()
    mem.zone_present[0] = 0
    assert not mmkit.snapshot.buddyinfo(mem).startswith("Node 0, zone      DMA")
    with pytest.raises(ParameterError):
        mmkit.snapshot.buddyinfo(object())


# ------------------------------------------------------------------ bad input
def _partial(tmp_path: Path, *names: str) -> Path:
    d = tmp_path / "partial"
    d.mkdir()
    for name in ("buddyinfo",) + names:
        shutil.copy(FIXTURE / name, d / name)
    return d


def test_missing_kpageflags_is_a_snapshot_error(tmp_path):
    d = _partial(tmp_path, "zoneinfo", "pagetypeinfo", "kpagecount.gz")
    with pytest.raises(SnapshotError, match="kpageflags"):
        build_memory(d)
    with pytest.raises(SnapshotError, match="kpageflags"):
        mmkit.Memory.from_snapshot(mmkit.snapshot.load(d))


def test_missing_zoneinfo_is_a_snapshot_error(tmp_path):
    d = _partial(tmp_path, "kpageflags.gz", "kpagecount.gz")
    with pytest.raises(SnapshotError, match="zoneinfo"):
        build_memory(d)


def test_without_pagetypeinfo_blocks_come_from_the_pages(tmp_path):
    d = _partial(tmp_path, "zoneinfo", "kpageflags.gz", "kpagecount.gz")
    mem = build_memory(d)
    mem.check()
    assert {r["source"] for r in mem.meta["from_snapshot"]["pageblocks"]} == {"pages only (no pagetypeinfo)"}


def test_bad_arguments(fixture_snap):
    with pytest.raises(ParameterError, match="snapshot"):
        build_memory(42)
    with pytest.raises(ParameterError, match="node"):
        build_memory(fixture_snap, node=3)
    with pytest.raises(mmkit.VariantError):
        build_memory(fixture_snap, variant="v9.9")
    with pytest.raises(ParameterError, match="memory"):
        from_snapshot_report(fixture_snap, "not a memory")


def test_head_only_buddy_marks_are_refused(tmp_path, fixture_snap):
    """Kernels whose stable_page_flags marks only a free block's first page leave the
    blocks' orders unknowable: refused with the reason, not rebuilt wrongly."""
    d = _partial(tmp_path, "zoneinfo", "pagetypeinfo", "kpagecount.gz")
    flags = fixture_snap.kpageflags.copy()
    buddy = np.uint64(1 << 10)
    marked = np.flatnonzero(flags & buddy)
    flags[marked[np.arange(marked.size) % 8 != 0]] &= ~buddy
    np.save(d / "kpageflags.npy", flags)
    with pytest.raises(SnapshotError, match="first page of a free block"):
        build_memory(d)
