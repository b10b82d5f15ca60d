"""The monitor's charts on history frames made to the schema: zones of two NUMA nodes,
a fragmentation index that is -1 between samples, the page size, and the prediction's
colours."""

from __future__ import annotations

import json

import polars as pl
import pytest

from mmkit import viz
from mmkit.errors import ParameterError
from mmkit.metrics.history import SCHEMA


def _history(nodes=(0,), frag=(-1000, -1000, -1000)) -> pl.DataFrame:
    """Three samples of zone Normal on each of ``nodes``: nr_free at order 9 and 0, the
    indices at order 9 (the fragmentation index of the samples as ``frag``), the
    watermarks."""
    rows = []
    for seq, f in enumerate(frag, start=1):
        t = 1_700_000_000_000 + 2000 * seq
        for node in nodes:
            rows += [
                (seq, t, "nr_free", node, "Normal", 0, None, 100 * (node + 1)),
                (seq, t, "nr_free", node, "Normal", 9, None, 3 + node),
                (seq, t, "unusable_index", node, "Normal", 9, None, 400 + node),
                (seq, t, "fragmentation_index", node, "Normal", 9, None, f),
                (seq, t, "watermark_min", node, "Normal", None, None, 1000),
                (seq, t, "watermark_low", node, "Normal", None, None, 1250),
                (seq, t, "watermark_high", node, "Normal", None, None, 1500),
            ]
    return pl.DataFrame(rows, schema=SCHEMA, orient="row")


def _data(chart) -> list[dict]:
    """Every row a chart embeds."""
    spec = chart.to_dict()
    return [r for rows in spec.get("datasets", {}).values() for r in rows]


def test_zones_of_two_nodes_are_two_zones():
    h = _history(nodes=(0, 1))
    assert viz.zone_labels([0, 0, 1], ["DMA32", "Normal", "Normal"]) == ["Node 0, DMA32", "Node 0, Normal",
                                                                        "Node 1, Normal"]
    assert viz.zone_labels([0, 0], ["DMA32", "Normal"]) == ["DMA32", "Normal"]
    with pytest.raises(ParameterError, match="2 nodes for 1 zones"):
        viz.zone_labels([0, 1], ["Normal"])
    chart = viz.monitor_indices(h)
    assert {r["zone"] for r in _data(chart) if "zone" in r} == {"Node 0, Normal", "Node 1, Normal"}
    # the free chart of one node's Normal: its own blocks and watermarks only
    chart = viz.monitor_free(h, zone="Node 1, Normal")
    rows = _data(chart)
    area = [r for r in rows if "free_mib" in r]
    assert {r["nr_free"] for r in area if r["order"] == 9} == {4}
    assert {r["nr_free"] for r in area if r["order"] == 0} == {200}
    with pytest.raises(ParameterError, match="'Node 0, Normal', 'Node 1, Normal'"):
        viz.monitor_free(h, zone="Normal")
    # one node: the zone's own name, as before
    assert {r["zone"] for r in _data(viz.monitor_indices(_history())) if "zone" in r} == {"Normal"}


def test_a_fragmentation_index_of_minus_one_breaks_the_line():
    """-1 (a free block of the order exists) is no point on the 0..1 scale: the sample
    stays in the line's data as a null, where the line breaks, and is not drawn."""
    chart = viz.monitor_indices(_history(frag=(700, -1000, 600)))
    spec = chart.to_dict()
    frag_layer = spec["vconcat"][1]["layer"][0]
    assert frag_layer["mark"]["invalid"] == "break-paths-filter-domains"
    rows = spec["datasets"][frag_layer["data"]["name"]]
    got = [r["index"] for r in sorted(rows, key=lambda r: r["seq"])]
    assert got[1] is None and got[0] == pytest.approx(0.7) and got[2] == pytest.approx(0.6)


def test_free_memory_in_the_machines_pages():
    h = _history()
    at4k = [r for r in _data(viz.monitor_free(h, zone="Normal")) if "free_mib" in r]
    at64k = [r for r in _data(viz.monitor_free(h, zone="Normal", page_size=65536)) if "free_mib" in r]
    key = lambda r: (r["seq"], r["order"])  # noqa: E731
    assert [b["free_mib"] for b in sorted(at64k, key=key)] == [16 * a["free_mib"] for a in sorted(at4k, key=key)]
    assert "pages of 64 KiB" in json.dumps(viz.monitor_free(h, page_size=65536).to_dict())
    for bad in (4095, 2048, 3 * 4096, "4096", True, 1 << 17):
        with pytest.raises(ParameterError, match="page_size"):
            viz.monitor_free(h, page_size=bad)


def test_each_predicted_state_has_its_own_colour():
    def frame(n):
        return pl.DataFrame({"state": [f"state {i}" for i in range(n)], "zone": ["Normal"] * n,
                             "order": [9] * n, "nr_free": list(range(n))})

    spec = viz.compact_prediction(frame(8)).to_dict()
    colors = spec["spec"]["encoding"]["color"]["scale"]["range"]
    assert len(set(colors)) == 8
    with pytest.raises(ParameterError, match="9 states; at most 8"):
        viz.compact_prediction(frame(9))
