"""The README's python examples run as printed, one after the other in one namespace (as a
reader pastes them into one session), and give what their comments say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import mmkit
from mmkit.model.kinds import PageKind

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def block(*needles: str) -> str:
    """The one python block that holds every needle."""
    found = [b for b in python_blocks() if all(n in b for n in needles)]
    assert len(found) == 1, f"README: expected one python block with {needles}, found {len(found)}"
    return found[0]


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> dict:
    """Every python block of the README executed in order, in a temporary folder."""
    import os

    cwd = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("readme"))
    try:
        ns: dict = {}
        for code in python_blocks():
            exec(compile(code, str(README), "exec"), ns)
        ns["cwd"] = Path.cwd()
    finally:
        os.chdir(cwd)
    return ns


def test_readme_has_the_examples_this_test_checks():
    assert len(python_blocks()) == 2
    block("mmkit.compare(", "res.save(")
    block("Sim(", "misrouted_putback")


def test_a_first_look(session):
    assert mmkit.variants().height == 6  # the six variants, one column per rule
    assert "pg_isolated" in mmkit.variants().columns
    res = session["res"]
    variants = ["v4.5", "v3-02", "v3-04", "v4.8"]
    assert res.variants == variants
    table = res.table()  # counter, each variant, % change
    assert table.columns == ["counter", *variants, *(f"{v} %" for v in variants[1:])]
    tl = res.timeline
    assert {"variant", "tick", "free_o9", "unusable_9", "misrouted_putback", "pswpout"} <= set(tl.columns)
    assert res.faults.columns == ["variant", "fault", "kind", "count"]
    assert (res.faults["count"] == 0).any()  # zeros included
    assert {"tick", "pfn", "event", "kind", "rule"} <= set(res.events.columns)
    back = mmkit.load_result(session["cwd"] / "out" / "review")
    assert back.variants == variants
    assert back.timeline.equals(tl)


def test_the_engine_example(session):
    s = session["s"]
    assert s.mem.kind.shape[0] == 64 * 256  # mib=64
    misrouted = s.count("misrouted_putback")
    # "v3-02 routes every migrated zsmalloc page to putback_lru_page": each zsmalloc page
    # compaction migrated was misrouted, and there were some
    assert misrouted == s.count("misrouted_putback", PageKind.ZSMALLOC) > 0
    assert misrouted == int((s.mem.kind == PageKind.ZSMALLOC).sum())
    comment = re.search(r'count\("misrouted_putback"\)\s*#\s*(\d+):', block("Sim(", "misrouted_putback"))
    assert comment and int(comment.group(1)) == misrouted


def test_the_engine_example_under_v48_misroutes_nothing():
    code = block("Sim(", "misrouted_putback")
    assert 'variant="v3-02"' in code
    ns = {"mmkit": mmkit}
    exec(compile(code.replace('variant="v3-02"', 'variant="v4.8"'), str(README), "exec"), ns)
    s = ns["s"]
    assert s.vmstat["pgmigrate_success"] > 0  # compaction did migrate pages
    assert s.count("misrouted_putback") == 0
