"""The soak and the fuzzer take a fresh seed unless given one, print it first with the
command that repeats the run, and shrink a failure to a minimal operation list with its
own replay command."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "verification"))
import fuzz
import seeds
import soak


def first_line(capsys) -> str:
    return capsys.readouterr().out.splitlines()[0]


def test_soak_prints_a_fresh_seed_first_with_its_command(capsys):
    assert soak.main(["--runs", "1", "--shrink-budget", "0"]) == 0
    line = first_line(capsys)
    seed = int(line.split()[1])
    assert line == (f"seed {seed} (fresh); repeat this run: .venv/bin/python verification/soak.py --runs 1 "
                    f"--shrink-budget 0 --seed {seed}")
    soak.main(["--runs", "1", "--shrink-budget", "0"])
    assert int(first_line(capsys).split()[1]) != seed  # 1 in 2**31 to fail


def test_a_given_seed_is_used_and_printed(capsys):
    assert soak.main(["--runs", "1", "--seed", "12"]) == 0
    assert first_line(capsys) == "seed 12 (given); repeat this run: .venv/bin/python verification/soak.py --runs 1 --seed 12"


def test_fresh_seeds_differ():
    assert len({seeds.fresh_seed() for _ in range(20)}) == 20


def test_soak_shrinks_a_failure_to_the_operations_it_needs(monkeypatch, capsys):
    """A finding that needs a balloon page and a zsmalloc object at once: of seven
    operations, the inflate and the zram store remain."""
    def both(sim, **kw):
        s = sim.S.st
        return ["pfn 0x0: balloon and zram at once"] if s[soak._st.ST_BALLOON_PAGES] and s[soak._st.ST_ZS_OBJECTS] else []

    monkeypatch.setattr(soak, "owner_findings", both)
    ops = [("anon", {"n": 50, "pinned": False, "zone": 1}), ("balloon_inflate", {"n": 40, "zone": 1}),
           ("file", {"n": 30, "zone": 0}), ("kernel", {"n": 5, "order": 0, "kind": soak.PageKind.SLAB, "zone": 1}),
           ("zram_store", {"n": 20, "size_class": None, "zone": 1}), ("compact_memory", {}),
           ("anon", {"n": 10, "pinned": False, "zone": 0})]
    case = soak.Case(soak.NAMED["v4.8"], 0, 0, 5, len(ops))
    keep, out = soak.shrink(case, ops)
    assert keep == [1, 4]
    assert out.findings == ["op 4 zram_store {'n': 20, 'size_class': None, 'zone': 1}: pfn 0x0: balloon and zram at once"]
    monkeypatch.setattr(soak, "ops_of", lambda c: ops)
    report = soak.shrink_report(case, 3, 77)
    assert "minimal operation list (2 of 7 ops" in report
    assert report.endswith("replay it: .venv/bin/python verification/soak.py --repro 3 --seed 77 --keep 1,4")


def test_soak_shrink_refuses_a_run_that_does_not_fail():
    with pytest.raises(ValueError, match="no violation or finding"):
        soak.shrink(soak.Case(soak.NAMED["v4.5"], 1, 0, 3, 4))


class TwoOps(fuzz.Target):
    """Fails (untyped) when its recipe holds both a T_FLIP and a T_CRLF operation."""

    name = "two_ops"
    ops = fuzz.TEXT_OPS

    def run(self, recipe, source):
        codes = {op[0] for op in recipe}
        if {fuzz.T_FLIP, fuzz.T_CRLF} <= codes:
            raise KeyError("both")
        return "ok"


def test_fuzz_shrinks_a_recipe_to_the_operations_it_needs():
    recipe = [(fuzz.T_NUMBER, 0, 1, 2, 3), (fuzz.T_FLIP, 0, 1, 2, 3), (fuzz.T_SPLICE, 0, 1, 2, 3),
              (fuzz.T_CRLF, 0, 1, 2, 3), (fuzz.T_FLIP, 1, 1, 2, 3)]
    keep = fuzz.shrink(TwoOps(), recipe, 0)
    assert len(keep) == 2 and {recipe[k][0] for k in keep} == {fuzz.T_FLIP, fuzz.T_CRLF}
    with pytest.raises(ValueError, match="does not fail"):
        fuzz.shrink(TwoOps(), recipe[:2], 0)


def test_fuzz_prints_a_fresh_seed_first(tmp_path, capsys):
    assert fuzz.main(["--targets", "page_types_bits", "--scale", "0.001", "--workdir", str(tmp_path)]) == 0
    line = first_line(capsys)
    seed = int(line.split()[1])
    assert line.endswith(f"verification/fuzz.py --targets page_types_bits --scale 0.001 --workdir {tmp_path} "
                         f"--seed {seed}")
