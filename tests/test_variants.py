import dataclasses

import numpy as np
import polars as pl
import pytest

import mmkit
from mmkit.semantics import (
    NAMED,
    RULE_FIELDS,
    BalloonProtocol,
    FailureRoute,
    IsolatedBit,
    MovableMarker,
    NewpageRoute,
    PageBalloonTest,
    PageTypes,
    resolve,
    variant,
)


def test_six_named_variants_in_order():
    assert list(NAMED) == ["v4.5", "v3-02", "v3-04", "v3-04-reviewed", "v4.8", "v6.18"]
    df = mmkit.variants()
    assert isinstance(df, pl.DataFrame)
    assert df["name"].to_list() == list(NAMED)
    assert set(RULE_FIELDS) <= set(df.columns)


def test_review_points_are_in_the_table():
    # point 3: v3 PG_isolated is PG_owner_priv_1; the review moves it off
    assert NAMED["v3-04"].pg_isolated == IsolatedBit.PG_OWNER_PRIV_1
    assert NAMED["v3-04-reviewed"].pg_isolated != IsolatedBit.PG_OWNER_PRIV_1
    assert NAMED["v4.8"].pg_isolated == IsolatedBit.PG_RECLAIM
    # point 1: PageBalloon from movable && PG_private_2 in v3-04 only
    assert [v.page_balloon == PageBalloonTest.MAPCOUNT_AND_PRIVATE_2 for v in NAMED.values()] == [
        False, False, True, False, False, False]
    # point 2: v3-02 still routes by PageBalloon
    assert NAMED["v3-02"].newpage_route == NewpageRoute.PAGE_BALLOON
    assert NAMED["v3-02"].movable_marker == MovableMarker.PG_RECLAIM_MAPCOUNT_255


def test_compile_is_an_int_array_one_entry_per_rule():
    for v in NAMED.values():
        c = v.compile()
        assert c.dtype == np.int64 and c.shape == (len(RULE_FIELDS),)
        assert [int(getattr(v, f)) for f in RULE_FIELDS] == c.tolist()
    assert len({tuple(v.compile()) for v in NAMED.values()}) == 6


def test_user_built_variant_with_dataclasses_replace():
    what_if = dataclasses.replace(NAMED["v3-04"], name="v3-04+huge", zsmalloc_huge_owner_priv_1=True)
    assert what_if.zsmalloc_huge_owner_priv_1 and what_if.compile()[RULE_FIELDS.index("zsmalloc_huge_owner_priv_1")] == 1
    v = NAMED["v4.8"].replace(newpage_route=NewpageRoute.SOURCE_IS_LRU)
    assert v.name == "v4.8+newpage_route=SOURCE_IS_LRU"
    # plain ints are coerced to the enums
    v2 = dataclasses.replace(NAMED["v4.8"], name="x", newpage_route=4)
    assert v2.newpage_route is NewpageRoute.SOURCE_IS_LRU
    assert v == dataclasses.replace(v2, name="v4.8+newpage_route=SOURCE_IS_LRU")


@pytest.mark.parametrize(
    "base, change, why",
    [
        ("v3-04", dict(pg_isolated=IsolatedBit.PG_RECLAIM), "same bit"),
        ("v4.5", dict(zsmalloc_movable=True), "generic movable marker"),
        ("v4.8", dict(pg_isolated=IsolatedBit.NONE), "needs a PG_isolated bit"),
        ("v6.18", dict(page_types=PageTypes.MAPCOUNT_SENTINELS), "typed pages only"),
        ("v3-04", dict(page_types=PageTypes.ONE_BYTE), "keeps the page type"),
        ("v4.5", dict(newpage_route=NewpageRoute.MAPPING_BIT), "movable_marker=MAPPING_BIT"),
        ("v4.8", dict(page_balloon=PageBalloonTest.PAGE_OFFLINE), "ONE_BYTE"),
        ("v4.8", dict(page_balloon=PageBalloonTest.MAPCOUNT_AND_PRIVATE_2), "PG_RECLAIM_MAPCOUNT_256"),
        ("v3-04", dict(balloon_branch_first=True), "isolate_balloon_page"),
        # soak run 62 (seed 987654): zsmalloc pages read as v3.19 balloon pages
        ("v3-02", dict(movable_marker=MovableMarker.PG_RECLAIM_MAPCOUNT_256), "PAGE_BALLOON_MAPCOUNT_VALUE"),
        ("v3-04", dict(balloon_protocol=BalloonProtocol.PAGE_PRIVATE), "PAGE_BALLOON_MAPCOUNT_VALUE"),
        # soak run 270 (seed 271828): v3-04's PageBalloon sent zsmalloc pages to the balloon list
        ("v3-04", dict(failure_route=FailureRoute.V3_02), "isolated_balloon_page"),
        ("v3-04", dict(failure_route=FailureRoute.V4_5), "isolated_balloon_page"),
    ],
)
def test_impossible_combinations_say_why(base, change, why):
    with pytest.raises(mmkit.VariantError, match="cannot exist") as e:
        NAMED[base].replace(**change)
    assert why in str(e.value)


def test_bad_field_values_and_names():
    with pytest.raises(mmkit.VariantError, match="not one of"):
        NAMED["v4.8"].replace(newpage_route=99)
    with pytest.raises(mmkit.VariantError, match="do not exist"):
        NAMED["v4.8"].replace(no_such_rule=1)
    with pytest.raises(mmkit.VariantError, match="not one of True, False"):
        NAMED["v4.8"].replace(zsmalloc_movable="yes")
    with pytest.raises(mmkit.VariantError, match="unknown variant 'v3-4'"):
        variant("v3-04".replace("0", "", 1))
    with pytest.raises(mmkit.VariantError, match="once"):
        resolve("v4.5,v4.5")
    assert [v.name for v in resolve("v4.5, v4.8")] == ["v4.5", "v4.8"]


def test_every_rule_field_has_its_index_and_compile_puts_it_there():
    """``F_<NAME>`` is made for each rule field, its position in ``RULE_FIELDS``, and
    ``Variant.compile()`` puts the field's value at that index, for every named variant."""
    import importlib

    import mmkit

    V = importlib.import_module("mmkit.semantics.variant")  # the module; mmkit.semantics.variant is a function
    assert {k for k in vars(V) if k.startswith("F_")} == {f"F_{n.upper()}" for n in V.RULE_FIELDS}
    for name in mmkit.NAMED:
        v = mmkit.variant(name)
        vc = v.compile()
        assert len(vc) == V.NR_RULE_FIELDS
        for i, n in enumerate(V.RULE_FIELDS):
            assert getattr(V, f"F_{n.upper()}") == i
            assert vc[i] == int(getattr(v, n)), (name, n)
