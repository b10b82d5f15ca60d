"""Every rule of ``Variant`` changes what some run shows (issue 18: a rule no kernel reads,
or that never changes an outcome, is dead).

A rule is shown alive when, on some named variant, changing that one rule (to any value
``validate`` accepts) changes a probe run's frames (timeline, zones, pageblocks, events,
faults, vmstat) or the end state's /proc/kpageflags. The probes are small ``compare``
runs of the presets, one on 6 GiB (a Normal zone), and a replay of the bundled trace.

``NOT_SHOWN_BY_THE_PROBES`` are the rules these probes do not show changing anything, each
with why; the slow test checks that it is exactly those, so a rule that goes dead fails
here, and one that a better probe reaches must leave the list.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import polars as pl
import pytest

import mmkit
from mmkit.engine.kpageflags import kpageflags
from mmkit.errors import VariantError
from mmkit.semantics import NAMED, RULE_FIELDS
from mmkit.semantics.variant import rule_values

TRACE = Path(__file__).resolve().parents[1] / "data" / "trace-sample"
FRAMES = ("timeline", "zone_timeline", "pageblocks", "events", "faults", "vmstat")
# (workload, cpus, gib); "trace": a replay of the bundled trace
PROBES = (("review-04", 2, 0.25), ("steady", 2, 0.25), ("zram-pressure", 0, 0.25), ("balloon-vm", 0, 0.25),
          ("steady", 2, 6.0), ("trace", 0, 0.0))

NOT_SHOWN_BY_THE_PROBES = {
    "page_types": "no named variant passes validate() with it alone changed: the page-type encoding comes "
                  "with the movable marker and PageBalloon test of its era (tests/test_era_rules.py)",
    "swapcache_bit": "KPF_SWAPCACHE of a page in the swap cache; no probe ends with one there",
    "extfrag_costly_only": "compaction_suitable at orders 1-3 with a fragmentation index at or below "
                           "extfrag_threshold; the probes' order-2/3 requests do not meet one",
    "compact_finished_low_wmark": "__compact_finished below the zone's low watermark at the order: the "
                                  "probes' compactions end for other reasons first",
    "pageblock_merge": "a free block merging across pageblocks of different migratetypes: the probes' "
                       "merges at pageblock order are between blocks of one type",
    "proactive_compaction": "needs ticks of a duration and a node score above 90: the presets' ticks have "
                            "none and the bundled trace's score stays low (docs/validation.md shows it on "
                            "this machine's compaction-full recordings; tests/test_compaction_rules.py "
                            "tests its kcompactd_tick)",
}


def _digest(res, name: str) -> tuple:
    out = [hash(kpageflags(res.memories[name]).tobytes())]
    for f in FRAMES:
        df = getattr(res, f).filter(pl.col("variant") == name).drop("variant")
        out.append(int(df.hash_rows().sum()) if len(df) else 0)
    return tuple(out)


def _run(probe, base, changed):
    workload, cpus, gib = probe
    if workload == "trace":
        return mmkit.replay(TRACE, variants=[base, changed])
    return mmkit.compare(workload=workload, variants=[base, changed], gib=gib, ticks=80, cpus=cpus, seed=1)


def witness(field: str):
    """The first (base variant, probe, value) where changing ``field`` alone changes what
    the run shows, or None."""
    for probe, base in itertools.product(PROBES, NAMED.values()):
        for alt in [v for v in rule_values(field) if v != getattr(base, field)]:
            try:
                changed = base.replace(**{field: alt}, name="changed")
            except VariantError:
                continue  # cannot exist with the base's other rules
            res = _run(probe, base, changed)
            if _digest(res, base.name) != _digest(res, "changed"):
                return base.name, probe, alt
    return None


@pytest.mark.parametrize("field", [f for f in RULE_FIELDS if f not in NOT_SHOWN_BY_THE_PROBES])
def test_the_rule_changes_what_a_run_shows(field):
    assert witness(field) is not None, f"{field}: changing it alone changes no probe run: a dead rule?"


@pytest.mark.slow
def test_the_rules_the_probes_do_not_show_are_exactly_those_listed():
    assert set(NOT_SHOWN_BY_THE_PROBES) <= set(RULE_FIELDS)
    shown = {f: witness(f) for f in NOT_SHOWN_BY_THE_PROBES}
    assert not {f: w for f, w in shown.items() if w is not None}, "shown now: take them off the list"
