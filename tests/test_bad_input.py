"""Wrong types and values at the public doors (compare, simulate, sweep, the Explorer,
Memory, Sim, the command line): each is refused before any work with an error that
names the parameter and says what to give instead, never a traceback from deep inside."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mmkit
from mmkit import cli
from mmkit.engine.sim import Sim
from mmkit.errors import ParameterError, SnapshotError, VariantError
from mmkit.inputs import check_gib, check_out_folder, check_seed

ROOT = Path(__file__).resolve().parent.parent
TINY = dict(workload="steady", gib=0.0625, ticks=2)


def no_run(monkeypatch):
    """Make any simulation fail the test: the error must come before the work."""
    import mmkit.run

    monkeypatch.setattr(mmkit.run, "_one_run", lambda *a, **k: pytest.fail("a run started"))
    monkeypatch.setattr(mmkit.run, "_prefilled_base", lambda *a, **k: pytest.fail("a machine was filled"))


@pytest.mark.parametrize("kw, error, words", [
    (dict(seed="abc"), ParameterError, "seed: 'abc' is not an integer (str); allowed integer 0..2**63-1"),
    (dict(seed=1.5), ParameterError, "seed: 1.5 is not an integer"),
    (dict(seed=True), ParameterError, "seed: True is not an integer (bool)"),
    (dict(seed=-1), ParameterError, "seed: -1 is out of range"),
    (dict(ticks=True), ParameterError, "ticks: True is not an integer"),
    (dict(gib=True), ParameterError, "gib: True is not a number of GiB (bool)"),
    (dict(gib="1"), ParameterError, "gib: '1' is not a number of GiB (str); give an int or a float (without quotes)"),
    (dict(gib=[1]), ParameterError, "gib: [1] is not a number of GiB"),
    (dict(gib=0.1), ParameterError, "gib: memory size: gib=0.1 must be"),
    (dict(variants=None), VariantError, "variants: None is not a variant or a list of variants"),
    (dict(variants=5), VariantError, "variants: 5 is not a variant or a list of variants"),
    (dict(memory=3, gib=None), ParameterError, "memory: expected None (a synthetic machine), a mmkit.Memory"),
    (dict(thp_rate="0.5"), ParameterError, "thp_rate: '0.5' is not a number"),
    (dict(ops_per_tick=True), ParameterError, "ops_per_tick: True is not a number"),
    (dict(ops_per_tick=float("inf")), ParameterError, "ops_per_tick: inf is not a number"),
    (dict(progress="yes"), ParameterError, "progress: 'yes'; give True (a bar), False or a callable"),
    (dict(log_traffic="x"), ParameterError, "log_traffic: 'x' is not a bool"),
])
def test_compare_refuses_before_running(kw, error, words, monkeypatch):
    no_run(monkeypatch)
    with pytest.raises(error) as e:
        mmkit.compare(**{**TINY, **kw})
    assert words in str(e.value)


def test_simulate_takes_one_variant(monkeypatch):
    no_run(monkeypatch)
    with pytest.raises(ParameterError, match="variant: simulate takes one variant"):
        mmkit.simulate(variant=["v4.5", "v4.8"], **TINY)


@pytest.mark.parametrize("value", [1, 0.5, 0.0625, np.float64(0.25), np.int64(2)])
def test_gib_takes_int_and_float_sizes(value):
    assert check_gib(value) == float(value) and type(check_gib(value)) is float


def test_seed_takes_numpy_integers():
    assert check_seed(np.int64(7)) == 7 and check_seed(2**63 - 1) == 2**63 - 1


@pytest.mark.parametrize("kw, words", [
    (dict(gib=True), "gib: True is not a number of GiB"),
    (dict(gib="1"), "gib: '1' is not a number of GiB"),
    (dict(mib="64"), "mib: '64' is not a number of MiB"),
    (dict(zones=5), "zones: 5 is not a list of (name, size_mib) pairs"),
    (dict(zones=[("Normal", "64")]), "zones: zone 'Normal' size: '64' is not a number of MiB"),
    (dict(zones=[("Normal", 1 << 20)]), "more than the 512 GiB"),
])
def test_memory_synthetic_refuses_bool_and_str_sizes(kw, words):
    with pytest.raises(ParameterError) as e:
        mmkit.Memory.synthetic(**kw)
    assert words in str(e.value)


def test_sim_count_names_the_event_and_the_kind():
    s = Sim(mmkit.Memory.synthetic(mib=64))
    assert s.count("misrouted_putback") == 0 and s.count("oops", mmkit.PageKind.ZSMALLOC) == 0
    with pytest.raises(ParameterError, match="event: 'nope' is not an event; events are isolated, migrated"):
        s.count("nope")
    with pytest.raises(ParameterError, match="kind: 99 is not a page kind; give a mmkit.PageKind"):
        s.count("oops", 99)
    with pytest.raises(ParameterError, match="seed: 'abc' is not an integer"):
        Sim(s.mem, "abc")
    with pytest.raises(ParameterError, match="log_traffic: 'x' is not a bool"):
        Sim(s.mem, log_traffic="x")
    with pytest.raises(ParameterError, match="deflate_race: True is not a number"):
        Sim(s.mem, deflate_race=True)


# ------------------------------------------------------------ variants built from one base
def test_variants_built_from_one_base_have_distinct_names_and_compare_together():
    from mmkit.semantics import SwapcacheBit

    base = mmkit.variant("v3-04")
    other = next(s for s in SwapcacheBit if s != base.swapcache_bit)
    a = base.replace(swapcache_bit=other)
    b = base.replace(swapcache_bit=other, zsmalloc_huge_owner_priv_1=not base.zsmalloc_huge_owner_priv_1)
    assert a.name == f"v3-04+swapcache_bit={other.name}"
    assert b.name == f"{a.name}+zsmalloc_huge_owner_priv_1={not base.zsmalloc_huge_owner_priv_1}"
    assert base.replace(swapcache_bit=int(other)).name == a.name  # a plain int names the enum
    assert base.replace(description="same rules").name == "v3-04+custom"
    res = mmkit.compare(variants=[base, a, b], **TINY)
    assert res.variants == ["v3-04", a.name, b.name]


def test_two_different_variants_of_one_name_say_how_to_name_them(monkeypatch):
    no_run(monkeypatch)
    base = mmkit.variant("v4.8")
    a = base.replace(kpf_folio_flags=not base.kpf_folio_flags, name="mine")
    b = base.replace(kpf_buddy_all_pages=not base.kpf_buddy_all_pages, name="mine")
    with pytest.raises(VariantError, match=r"two different variants are both named 'mine'; give each its own name"):
        mmkit.compare(variants=[a, b], **TINY)
    with pytest.raises(VariantError, match="'v4.8' appears twice"):
        mmkit.compare(variants=["v4.8", base], **TINY)


# ------------------------------------------------------------ sweep: the same checks
@pytest.mark.parametrize("grid, kw, error, words", [
    ({"seed": ["a"]}, {}, ParameterError, "grid: seed: 'a' is not an integer"),
    ({"seed": [True]}, {}, ParameterError, "grid: seed: True is not an integer"),
    ({"gib": [True]}, {}, ParameterError, "grid: gib: True is not a number of GiB"),
    ({"gib": ["1"]}, {}, ParameterError, "grid: gib: '1' is not a number of GiB"),
    ({"thp_rate": [0.1]}, {"seed": "abc"}, ParameterError, "seed: 'abc' is not an integer"),
    ({"seed": [1]}, {"gib": "1"}, ParameterError, "gib: '1' is not a number of GiB"),
    ({"seed": [1]}, {"variants": 5}, VariantError, "variants: 5 is not a variant or a list of variants"),
    ({"seed": [1]}, {"out": 5}, ParameterError, "out: 5 is not a folder path"),
    ({"seed": [1]}, {"thin": "x"}, ParameterError, "thin: 'x' is not an integer"),
    ({"seed": [1]}, {"out": "/proc/mmkit-no-such/x"}, ParameterError, "out: cannot write /proc/mmkit-no-such/x"),
])
def test_sweep_checks_with_the_same_functions(grid, kw, error, words, monkeypatch):
    import mmkit.sweep.local

    monkeypatch.setattr(mmkit.sweep.local, "run_local", lambda *a, **k: pytest.fail("a cell ran"))
    with pytest.raises(error) as e:
        mmkit.sweep(grid, **kw)
    assert words in str(e.value)


def test_sweep_grid_of_built_variants():
    from mmkit.sweep.grid import plan

    base = mmkit.variant("v4.8")
    a = base.replace(kpf_folio_flags=not base.kpf_folio_flags)
    b = base.replace(kpf_buddy_all_pages=not base.kpf_buddy_all_pages)
    p = plan({"variant": [base, a, b]})
    assert [v.name for v in p.cells[0].variants] == ["v4.8", a.name, b.name]
    with pytest.raises(VariantError, match="grid: variants: two different variants are both named 'x'"):
        plan({"variant": [a.replace(name="x"), b.replace(name="x")]})


# ------------------------------------------------------------ the Explorer: the same checks
def test_explorer_checks_with_the_same_functions():
    from mmkit.widgets import Explorer

    with pytest.raises(ParameterError, match="seed: 'abc' is not an integer"):
        Explorer(seed="abc")
    with pytest.raises(ParameterError, match="gib: True is not a number of GiB"):
        Explorer(gib=True)
    with pytest.raises(VariantError, match="variants: 5 is not a variant"):
        Explorer(variants=5)
    ex = Explorer(workload="steady", gib=0.25, ticks=5)
    for kw, words in [(dict(seed=1.5), "seed: 1.5 is not an integer"), (dict(ticks=2.5), "ticks: 2.5 is not an integer"),
                      (dict(gib="1"), "gib: '1' is not a number"), (dict(gib=0.1), "gib: memory size"),
                      (dict(ops_per_tick=True), "ops_per_tick: True is not an integer"),
                      (dict(thp_rate="0.5"), "thp_rate: '0.5' is not a number"),
                      (dict(thp_rate=1.5), "thp_rate: 1.5 is out of range")]:
        with pytest.raises(ParameterError, match=words):
            ex.set(**kw)
    assert ex.controls["seed"].value == 1 and ex.controls["gib"].value == 0.25  # unchanged
    ex.set(variants="v4.8", seed=np.int64(3), gib=1)
    assert ex.values()["variants"] == [mmkit.variant("v4.8")] and ex.values()["seed"] == 3
    base = mmkit.variant("v3-04")
    a = base.replace(zsmalloc_huge_owner_priv_1=not base.zsmalloc_huge_owner_priv_1)
    ex2 = Explorer(workload="steady", variants=[base, a])
    assert [v.name for v in ex2.values()["variants"]] == ["v3-04", a.name]
    with pytest.raises(VariantError, match="both named"):
        Explorer(variants=[a, base.replace(kpf_folio_flags=not base.kpf_folio_flags, name=a.name)])


# ------------------------------------------------------------ output folders and paths
def test_out_folder_is_checked_without_leaving_anything(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ParameterError, match="out: .* exists; choose a new folder"):
        check_out_folder(tmp_path / "file")
    with pytest.raises(ParameterError, match="is a file, not a folder"):
        check_out_folder(tmp_path / "file" / "sub")
    with pytest.raises(ParameterError, match="out: cannot write /proc/x"):
        check_out_folder("/proc/x")
    assert check_out_folder(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # nothing made, nothing left
    with pytest.raises(ParameterError, match="path: 5 is not a folder path"):
        mmkit.load_result(5)


def test_cli_run_checks_out_before_simulating(monkeypatch, capsys):
    import mmkit.run

    monkeypatch.setattr(mmkit.run, "compare", lambda *a, **k: pytest.fail("the run started"))
    assert cli.main(["run", "--out", "/proc/x", "--gib", "0.0625", "--ticks", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mmkit: error: --out: cannot write /proc/x: /proc is not writable")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_cli_snapshot_capture_names_the_flag(tmp_path, capsys):
    dest = tmp_path / "snap"
    dest.mkdir()
    (dest / "meta.json").write_text("{}")
    assert cli.main(["snapshot", "capture", str(dest)]) == 2
    err = capsys.readouterr().err
    assert "already exists; choose a new folder or pass --overwrite" in err and "overwrite=True" not in err
    with pytest.raises(SnapshotError, match="pass overwrite=True"):  # the Python API names its keyword
        mmkit.snapshot.capture(dest)
    with pytest.raises(SystemExit):
        cli.main(["snapshot", "capture", "--attempts", "0", str(tmp_path / "new")])
    assert "argument --attempts: 0 is not >= 1" in capsys.readouterr().err


def test_cli_report_checks_out(capsys):
    assert cli.main(["report", "--out", "/proc/x", "01"]) == 2
    assert capsys.readouterr().err.startswith("mmkit: error: --out: cannot write /proc/x")


# ------------------------------------------------------------ python -m mmkit
def _python_m(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "mmkit", *argv], capture_output=True, text=True, cwd=ROOT, env=env)


def test_python_m_mmkit_is_the_mmkit_command(capsys):
    r = _python_m("variants", "--json")
    assert r.returncode == 0 and r.stderr == ""
    assert cli.main(["variants", "--json"]) == 0
    assert r.stdout == capsys.readouterr().out
    r = _python_m("--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: mmkit ")
    r = _python_m("run", "--variants", "v9", "--gib", "0.0625", "--ticks", "1")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("mmkit: error: unknown variant 'v9'") and "Traceback" not in r.stderr



def test_cli_set_refuses_a_bool_it_cannot_read(monkeypatch, capsys):
    import mmkit.run

    monkeypatch.setattr(mmkit.run, "compare", lambda *a, **k: pytest.fail("the run started"))
    assert cli.main(["run", "--set", "swap=maybe", "--gib", "0.0625"]) == 2
    assert "--set: swap='maybe' is not a bool (true or false)" in capsys.readouterr().err
    from mmkit.cli import _parse_sets

    assert _parse_sets(["swap=off", "kcompactd=Yes", "thp_rate=0.5"]) == {"swap": False, "kcompactd": True,
                                                                          "thp_rate": 0.5}


def test_compact_memory_checks_its_seed_first():
    with pytest.raises(ParameterError, match="seed: 'abc' is not an integer"):
        mmkit.compact_memory(mmkit.Memory.synthetic(mib=64), seed="abc")
