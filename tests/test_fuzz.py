"""Fuzzed input: every parser, ``snapshot.load`` and ``Memory.from_snapshot`` on corrupted
real files end in a valid result or a typed ``MmkitError``, within a time bound, and
hostile arrays stay within a memory bound.

The corruption recipes and targets are those of ``verification/fuzz.py`` (which runs
them by the hundred thousand); here hypothesis draws a few thousand recipes and shrinks
any failing one. The last tests replay, by hand, each input the fuzzer found that once
ended in an untyped exception.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mmkit.metrics
import mmkit.snapshot
from mmkit.errors import SnapshotError
from mmkit.snapshot import parse
from mmkit.snapshot.page_types_tool import parse_bits_mask

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "verification"))
import fuzz

# the pure-Python engine (coverage runs) is some hundred times slower: fewer, longer inputs
NO_JIT = os.environ.get("NUMBA_DISABLE_JIT") == "1"
SLOWER = 50 if NO_JIT else 1
FEW = settings(max_examples=40 if NO_JIT else 250, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return fuzz.workdir_for(tmp_path_factory.mktemp("fuzz"))


@contextmanager
def time_bound(seconds: float):
    """Raise ``fuzz.Timeout`` in the block after ``seconds`` (SIGALRM; an alarm already
    set, e.g. by pytest-timeout, is put back afterwards)."""
    def on_alarm(signum, frame):
        raise fuzz.Timeout(f"input ran past its {seconds} s bound")

    old_handler = signal.signal(signal.SIGALRM, on_alarm)
    t0 = time.monotonic()
    old_delay, _ = signal.setitimer(signal.ITIMER_REAL, seconds * SLOWER)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        if old_delay:
            signal.setitimer(signal.ITIMER_REAL, max(old_delay - (time.monotonic() - t0), 0.001))


def assert_typed_or_valid(target: fuzz.Target, recipe, source: int) -> None:
    with time_bound(target.bound_seconds):
        status, detail = fuzz.outcome(target, recipe, source)
    assert status != "FAIL", f"recipe {recipe}, source {source}:\n{detail}"


def ready(target: fuzz.Target, workdir: Path) -> fuzz.Target:
    target.setup(workdir)
    return target


# ------------------------------------------------------------------ fuzzed targets
@pytest.mark.parametrize("name", fuzz.TEXT_NAMES)
@FEW
@given(data=st.data())
def test_parser_on_corrupted_real_files(name, data):
    target = _parser(name)
    recipe = data.draw(fuzz.recipes(fuzz.TEXT_OPS), label="recipe")
    source = data.draw(st.integers(0, len(target.sources) - 1), label="source")
    assert_typed_or_valid(target, recipe, source)


_PARSERS: dict[str, fuzz.ParserTarget] = {}


def _parser(name: str) -> fuzz.ParserTarget:
    if name not in _PARSERS:
        _PARSERS[name] = fuzz.ParserTarget(name)
        _PARSERS[name].setup(Path("."))
    return _PARSERS[name]


@FEW
@given(recipe=fuzz.recipes(fuzz.BitsTarget.ops), source=st.integers(0, len(fuzz.BitsTarget.SPECS) - 1))
def test_page_types_bits_specs(recipe, source):
    assert_typed_or_valid(fuzz.BitsTarget(), recipe, source)


@settings(max_examples=40 if NO_JIT else 400, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_arrays_in_every_form(workdir, data):
    target = ready(fuzz.ArrayTarget(), workdir)
    recipe = data.draw(fuzz.recipes(fuzz.ARRAY_OPS), label="recipe")
    assert_typed_or_valid(target, recipe, data.draw(st.integers(0, 7), label="source"))


@settings(max_examples=20 if NO_JIT else 250, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_snapshot_folder_through_every_reader(workdir, data):
    target = ready(fuzz.SnapshotTarget(), workdir)
    recipe = data.draw(fuzz.recipes(fuzz.FOLDER_OPS), label="recipe")
    assert_typed_or_valid(target, recipe, data.draw(st.integers(0, 1), label="source"))


@settings(max_examples=8 if NO_JIT else 120, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_memory_from_corrupted_snapshot(workdir, data):
    target = ready(fuzz.FromSnapshotTarget(), workdir)
    recipe = data.draw(fuzz.recipes(fuzz.FOLDER_OPS), label="recipe")
    assert_typed_or_valid(target, recipe, data.draw(st.integers(0, 3), label="source"))


def test_campaign_regression_pagetypeinfo_count_past_64_bits(workdir):
    """`fuzz.py --repro from_snapshot 1593416846 188` (a fresh campaign seed): a
    pagetypeinfo pageblock count near 2**64 overflowed the per-type sum (OverflowError out
    of _infer_pageblocks); counts past the zone's blocks are now cut to them, and the
    report keeps the kernel's total."""
    recipe = ((7, 9, 2968161769, 1239122221, 2912141298),)
    status, detail = fuzz.outcome(ready(fuzz.FromSnapshotTarget(), workdir), recipe, 944789)
    assert status != "FAIL", detail


def test_the_unchanged_sources_are_valid(workdir):
    """The fuzzers start from inputs that load: a corrupted one is corrupted by the recipe."""
    for name in fuzz.TEXT_NAMES:
        for i in range(len(_parser(name).sources)):
            assert fuzz.outcome(_parser(name), (), i)[0] == "ok", (name, i)
    for t in (fuzz.ArrayTarget(), fuzz.SnapshotTarget(), fuzz.FromSnapshotTarget()):
        assert fuzz.outcome(ready(t, workdir), (), 0)[0] == "ok", t.name


def test_every_hostile_array_file_is_refused_or_read(workdir, tmp_path):
    """Each whole-file replacement (pickle as .npy, a 1 TB claim, bombs...) by itself."""
    target = ready(fuzz.ArrayTarget(), workdir)
    for k in range(len(fuzz.array_blobs())):
        assert_typed_or_valid(target, ((fuzz.C_BLOB, 0, k, 0, 0),), 0)
    assert not os.path.exists(fuzz.PWNED)


# ------------------------------------------------------------------ memory bound
MEMORY_PROBE = r"""
import resource, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import fuzz
from pathlib import Path
from mmkit.errors import MmkitError
from mmkit.snapshot.arrays import read_u64_array
import mmkit.snapshot

work = Path(sys.argv[2])
blobs = fuzz.array_blobs()
paths = []
for k, (suffix, content) in enumerate(blobs):
    p = work / f"blob{k}" / ("kpageflags" + suffix)
    p.parent.mkdir()
    fuzz._write(p, content)
    (p.parent / "buddyinfo").write_text("Node 0, zone DMA 1 2 3\n")
    paths.append(p)
del blobs
fuzz.array_blobs.cache_clear()
limit = fuzz._vm_size() + (256 << 20)
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
for p in paths:
    for max_pfns in (1 << 20, None):  # the fuzz bound, and the default 2^27
        try:
            if max_pfns is None:
                mmkit.snapshot.load(p.parent).kpageflags
            else:
                read_u64_array(p, max_pfns)
        except MmkitError:
            pass
        except MemoryError:
            print("MemoryError", p.parent.name, p.name, max_pfns)
print("done")
"""


def test_hostile_arrays_stay_in_a_memory_bound(tmp_path):
    """In a process allowed 256 MiB of address space beyond its start, every hostile
    array file is refused with a typed error at the fuzz bound (8 MiB of pfns): sizes are
    checked before reading, decompression stops at the bound, .npy headers are checked."""
    out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(ROOT / "verification"), str(tmp_path)],
                         check=False, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("done") and "MemoryError" not in out.stdout, out.stdout


# ------------------------------------------------------------------ inputs the fuzzer found
FOUND = [
    # a number of 5000 digits: int() refuses past 4300 digits with a ValueError
    (parse.parse_buddyinfo, "Node 0, zone DMA " + "1" * 5000, "does not fit in 64 bits"),
    (parse.parse_vmstat, "nr_free_pages " + "9" * 5000, "does not fit in 64 bits"),
    (parse.parse_zoneinfo, "Node 0, zone DMA\n  pages free " + "9" * 5000, "does not fit in 64 bits"),
    (parse.parse_extfrag_index, "Node 0, zone DMA " + "9" * 5000 + ".000", "does not fit in 64 bits"),
    # an index past 64 bits reached polars (TypeError / OverflowError building the frame)
    (parse.parse_extfrag_index, "Node 0, zone DMA -9223372036854775808.000", "does not fit in 64 bits"),
    (parse.parse_unusable_index, "Node 0, zone DMA 99999999999999999.000", "does not fit in 64 bits"),
    # 1 << 4611686018427387904: MemoryError
    (parse.parse_pagetypeinfo,
     (ROOT / "data" / "idle" / "pagetypeinfo").read_text().replace("Page block order: 9",
                                                                    "Page block order: 4611686018427387904"),
     "is not 2\\^4611686018427387904"),
    # 20000 orders: debugfs_text is quadratic in the orders (minutes), zone_summary overflowed
    (parse.parse_buddyinfo, "Node 0, zone DMA " + "1 " * 20000, "20000 orders; a 64-bit kernel has at most 64"),
    (parse.parse_buddyinfo, "Node 0, zone DMA " + "1 " * 64, "more pages than 64 bits count"),
    (parse.parse_extfrag_index, "Node 0, zone DMA " + "0.000 " * 65, "65 orders"),
]


@pytest.mark.parametrize("fn, text, msg", FOUND, ids=[f"{f.__name__}-{i}" for i, (f, _, _) in enumerate(FOUND)])
def test_found_by_fuzzing_parsers(fn, text, msg):
    with pytest.raises(SnapshotError, match=msg):
        fn(text)


def test_found_by_fuzzing_bits_spec():
    # C's strtoll saturates; int() of 5000 digits raised ValueError
    assert parse_bits_mask("9" * 5000) == ((1 << 63) - 1, (1 << 64) - 1)
    assert parse_bits_mask("lru,~" + "9" * 5000)[0] & 1 << 5


@pytest.mark.parametrize("meta, msg", [
    (b'{"page_size": ' + b"1" * 5000 + b"}", "not usable JSON"),  # ValueError from json
    (b"[" * 100000 + b"]" * 100000, "not usable JSON"),  # RecursionError from json
])
def test_found_by_fuzzing_meta(tmp_path, meta, msg):
    (tmp_path / "buddyinfo").write_text("Node 0, zone DMA 1 2 3\n")
    (tmp_path / "meta.json").write_bytes(meta)
    with pytest.raises(SnapshotError, match=msg):
        _ = mmkit.snapshot.load(tmp_path).meta


def test_found_by_fuzzing_kernel_release(tmp_path):
    # a release of 5000 digits: kernel_version's int() raised ValueError in debugfs_text
    (tmp_path / "buddyinfo").write_text("Node 0, zone DMA 1 2 3\n")
    (tmp_path / "meta.json").write_text('{"kernel_release": "' + "9" * 5000 + '.1"}')
    s = mmkit.snapshot.load(tmp_path)
    assert s.kernel_release.startswith("999") and mmkit.snapshot.snapshot.kernel_version(s.kernel_release) is None
    assert mmkit.metrics.debugfs_text(s, "extfrag_index").startswith("Node 0, zone      DMA -1.000 ")


def test_found_by_fuzzing_npy_header(tmp_path):
    # numpy's header reader raised tokenize.TokenError on an unclosed header
    d = tmp_path / "s"
    d.mkdir()
    (d / "buddyinfo").write_text("Node 0, zone DMA 1 2 3\n")
    header = b"{'descr': '<u8', 'fortran_order': False, 'shape': (0,), }" + b" " * 17 + b"(" + b" " * 42 + b"\n"
    (d / "kpageflags.npy").write_bytes(b"\x93NUMPY\x01\x00v\x00" + header + b"\t")
    with pytest.raises(SnapshotError, match="not a .npy array file"):
        _ = mmkit.snapshot.load(d).kpageflags



# ------------------------------------------------------------------ the errors, documented
def test_every_error_class_is_in_docs_errors_md_with_a_fix():
    """The fuzzers' contract is "a typed error"; docs/errors.md (``python
    docs/gen_errors.py``) says for each type its cause and fix."""
    sys.path.insert(0, str(ROOT / "docs"))
    import gen_errors

    classes = gen_errors.find_classes()
    assert {"MmkitError", "ParameterError", "VariantError", "InvariantError", "SnapshotError",
            "OutOfMemoryError", "MetricsMismatch"} <= set(classes)
    page = (ROOT / "docs" / "errors.md").read_text()
    for name, c in classes.items():
        assert c.cause and gen_errors._fix(c, classes), f"{name}: its docstring needs a cause and a 'Fix:'"
        assert f"| `{name}` |" in page, f"{name} is missing from docs/errors.md: run python docs/gen_errors.py"
