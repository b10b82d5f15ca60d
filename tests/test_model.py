import numpy as np
import pytest

import mmkit
from mmkit.model import flags as pg
from mmkit.model import kpf
from mmkit.model.encodings import PAGE_BUDDY_MAPCOUNT_VALUE, PGTY_buddy, make_mapping, pgty_store
from mmkit.model.kinds import MAX_ORDER, MigrateType, PageKind


def test_aliases_follow_the_kernel():
    assert pg.PG_checked == pg.PG_owner_priv_1 == pg.PG_pinned == pg.PG_foreign
    assert pg.PG_fscache == pg.PG_private_2
    assert pg.PG_movable_ops == pg.PG_uptodate
    assert pg.flag_names((1 << pg.PG_lru) | (1 << pg.PG_checked)) == ["PG_lru", "PG_owner_priv_1"]


def test_kpf_bits_match_uapi_and_internal_numbers():
    assert (kpf.KPF_BUDDY, kpf.KPF_BALLOON, kpf.KPF_OFFLINE, kpf.KPF_PGTABLE) == (10, 23, 23, 26)
    assert (kpf.KPF_PRIVATE_2, kpf.KPF_OWNER_PRIVATE, kpf.KPF_ARCH_3) == (36, 37, 42)
    assert len(kpf.KPF_NAMES) == 27 + 11


def test_page_type_store_does_not_collide_with_old_sentinels():
    stored = pgty_store(PGTY_buddy)
    assert stored == -272 and stored not in (-128, -255, -256, -1)
    assert np.int16(stored) == stored
    assert make_mapping(5, 2) == 22


def test_synthetic_layout_is_x86_64_like_and_24_bytes_per_frame():
    m = mmkit.Memory.synthetic(gib=6)
    assert m.zone_names == ("DMA", "DMA32", "Normal")
    assert m.zone_start.tolist() == [1, 4096, 1 << 20]
    assert m.nr_pages == 6 << 18
    assert m.nbytes_per_page < 24.01  # 24 bytes of page arrays plus list heads
    assert m.kind[0] == PageKind.HOLE and (m.kind[1:] == PageKind.FREE).all()
    assert (m.pb_flags & 7 == MigrateType.MOVABLE).all()
    assert int(m.free_pages().sum()) == m.nr_pages - 1
    m.check()


def test_small_machine_has_no_normal_zone():
    m = mmkit.Memory.synthetic(mib=64)
    assert m.zone_names == ("DMA", "DMA32")


@pytest.mark.parametrize(
    "kw, word",
    [
        (dict(gib=-1), "gib=-1"),
        (dict(gib=0), "at least 32 MiB"),
        (dict(mib=33), "multiple of 2 MiB"),
        (dict(gib="four"), "gib: 'four' is not a number of GiB"),
        (dict(gib=float("nan")), "memory size"),
        (dict(gib=4096), "more than"),
        (dict(gib=1, mib=2), "exactly one"),
        (dict(zones=[("Normal", 3)]), "multiples of 2 MiB"),
        (dict(zones=[("Normal", -2)]), "positive"),
        (dict(zones=["Normal"]), "(name, size_mib)"),
        (dict(zones=[]), "at least one zone"),
    ],
)
def test_bad_sizes_are_refused_clearly(kw, word):
    with pytest.raises(mmkit.ParameterError, match=word.replace("(", r"\(").replace(")", r"\)")):
        mmkit.Memory.synthetic(**kw)


def test_unknown_variant_for_memory():
    with pytest.raises(mmkit.VariantError, match="unknown variant 'v9'"):
        mmkit.Memory.synthetic(mib=64, variant="v9")


def test_buddy_encoding_per_era():
    old = mmkit.Memory.synthetic(mib=64, variant="v4.8")
    new = mmkit.Memory.synthetic(mib=64, variant="v6.18")
    heads_old = np.flatnonzero(old.mapcount == PAGE_BUDDY_MAPCOUNT_VALUE)
    heads_new = np.flatnonzero(new.mapcount == pgty_store(PGTY_buddy))
    assert heads_old.tolist() == heads_new.tolist()
    assert (old.private[heads_old] == new.private[heads_new]).all()
    assert len(heads_old) == int(old.nr_free.sum())


@pytest.mark.parametrize("threads", [False, True])
def test_copy_is_deep(monkeypatch, threads):
    """One thread below PARALLEL_COPY_PAGES, two above (the threshold lowered here):
    the same arrays, each a copy of its own."""
    from mmkit.model import memory

    if threads:
        monkeypatch.setattr(memory, "PARALLEL_COPY_PAGES", 0)
    m = mmkit.Memory.synthetic(mib=64, variant="v6.18", cpus=2)
    m.flags[:] = np.arange(m.nr_pages, dtype=m.flags.dtype)  # something in every frame
    c = m.copy()
    names = [n for n in m.__dataclass_fields__ if isinstance(getattr(m, n), np.ndarray)]
    for n in names:
        a, b = getattr(m, n), getattr(c, n)
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), n
        assert not np.shares_memory(a, b), n
    c.kind[5] = PageKind.KERNEL
    assert m.kind[5] == PageKind.FREE
    assert c.variant is m.variant and c.meta == m.meta and c.meta is not m.meta
    assert MAX_ORDER == 11
