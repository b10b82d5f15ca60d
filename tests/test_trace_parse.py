"""mmkit.trace's readers, without a kernel: format files, the ring-buffer page walker on
crafted pages and on real pages captured from Linux 6.18 (compared with the kernel's
own text of the same events), the perf script / trace-cmd report readers, the stored
trace folder, and bad input of each kind."""

from __future__ import annotations

import json
import re
import shutil
import struct
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import mmkit.trace
from mmkit.errors import ParameterError
from mmkit.trace import events as ev
from mmkit.trace.decode import CpuPages, decode
from mmkit.errors import TraceError, TracingUnavailableError
from mmkit.trace.formats import parse_event_format, parse_header_event, parse_header_page
from mmkit.trace.printfmt import flag_names, symbol_tables
from mmkit.trace.record import load_formats
from mmkit.trace.ringbuf import walk_pages

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "trace"
KERNEL = DATA / "kernel-6.18"
FORMATS = KERNEL / "formats"
PERF = DATA / "perf-script-6.1.txt"
TRACE_CMD = DATA / "trace-cmd-report-3.1.6.txt"


def header():
    return parse_header_page((FORMATS / "header_page").read_text())


def alloc_format():
    return parse_event_format((FORMATS / "kmem" / "mm_page_alloc.format").read_text(), "kmem")


# ------------------------------------------------------------------ format files
def test_format_file_fields():
    f = alloc_format()
    assert (f.name, f.system) == ("mm_page_alloc", "kmem")
    assert f.id > 0
    got = {x.name: (x.offset, x.size, x.signed) for x in f.fields}
    assert got == {"common_type": (0, 2, False), "common_flags": (2, 1, False), "common_preempt_count": (3, 1, False),
                   "common_pid": (4, 4, True), "pfn": (8, 8, False), "order": (16, 4, False),
                   "gfp_flags": (24, 8, False), "migratetype": (32, 4, True)}
    assert f.size == 36
    assert "gfp_flags" in f.print_fmt


def test_format_data_loc_and_arrays():
    text = """name: x
ID: 7
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:0;
\tfield:__data_loc char[] name;\toffset:24;\tsize:4;\tsigned:0;
\tfield:struct mm_struct * mm;\toffset:32;\tsize:8;\tsigned:0;

print fmt: "%s", __get_str(name)
"""
    f = parse_event_format(text, "s")
    assert f.field("comm").array == 16 and f.field("comm").size == 16
    assert f.field("name").data_loc and f.field("name").offset == 24
    assert f.field("mm").type == "struct mm_struct *"
    assert f.id == 7 and f.size == 40


@pytest.mark.parametrize("bad, match", [
    ("ID: 3\nformat:\n", "not an event format file"),
    ("name: x\nformat:\n", "not an event format file"),
    ("name: x\nID: 3\n\tfield:int a;\toffset:0;\n", "not a field line"),
    ("name: x\nID: 3\n\tfield:int a;\toffset:0;\tsize:4;\tsigned:1;\n", "no common_type"),
])
def test_format_file_bad(bad, match):
    with pytest.raises(TraceError, match=match):
        parse_event_format(bad, "s", "thefile")


def test_header_page_and_event():
    h = header()
    assert (h.timestamp_offset, h.commit_offset, h.commit_size, h.data_offset, h.data_size) == (0, 8, 8, 16, 4080)
    assert h.page_size == 4096
    got = parse_header_event((FORMATS / "header_event").read_text())
    assert got["type_len"] == 5 and got["time_delta"] == 27 and got["time_extend"] == 30


def test_header_event_other_layout_refused():
    text = (FORMATS / "header_event").read_text().replace("type == 30", "type == 29")
    with pytest.raises(TraceError, match="time_extend = 29"):
        parse_header_event(text, "hdr")


def test_header_page_missing_field():
    text = "\n".join(ln for ln in (FORMATS / "header_page").read_text().splitlines() if "commit" not in ln)
    with pytest.raises(TraceError, match="no 'commit' field"):
        parse_header_page(text, "hp")


def test_print_fmt_tables():
    gfp = flag_names(alloc_format().print_fmt)
    assert gfp["GFP_KERNEL"] == 0xCC0 and gfp["__GFP_ZERO"] == 0x100 and gfp["GFP_HIGHUSER_MOVABLE"] == 0x100CCA
    end = parse_event_format((FORMATS / "compaction" / "mm_compaction_end.format").read_text())
    t = symbol_tables(end.print_fmt)
    assert t["status"]["complete"] == 5 and t["status"]["success"] == 8
    assert t["sync"] == {"sync": 1, "async": 0}


# ------------------------------------------------------------------ crafted pages
def word(type_len: int, delta: int) -> bytes:
    return struct.pack("<I", (delta << 5) | type_len)


def data_rec(payload: bytes, delta: int) -> bytes:
    assert len(payload) % 4 == 0
    if len(payload) <= 112:
        return word(len(payload) // 4, delta) + payload
    return word(0, delta) + struct.pack("<I", len(payload) + 4) + payload


def page(records: bytes, ts: int, flags: int = 0, stored: int | None = None) -> bytes:
    body = records
    if stored is not None:
        body += struct.pack("<Q", stored)
    assert len(body) <= 4080
    return struct.pack("<QQ", ts, len(records) | flags) + body + bytes(4080 - len(body))


def alloc_payload(fmt, pfn, order, gfp, mt, pid=42) -> bytes:
    return struct.pack("<HBBiQIIQi", fmt.id, 0, 0, pid, pfn, order, 0, gfp, mt)


def test_walk_crafted_page_all_record_kinds():
    f = alloc_format()
    p = alloc_payload(f, 0x1000, 0, 0xCC0, 1)
    assert len(p) == 36
    big = p + bytes(120)  # 156 bytes: a type_len 0 record with its length in array[0]
    recs = (data_rec(p, 5)                                          # ts 1000 + 5
            + word(30, 3) + struct.pack("<I", 2)                    # time extend: + (2 << 27 | 3)
            + data_rec(p, 0)                                        # same time
            + word(29, 1) + struct.pack("<I", 12) + bytes(8)        # padding (discarded event) of 16 bytes
            + data_rec(big, 7)
            + word(31, 11) + struct.pack("<I", 1)                   # absolute time stamp 1 << 27 | 11
            + data_rec(p, 2))
    buf = page(recs, 1000)
    r = walk_pages(np.frombuffer(buf, np.uint8), header(), "crafted")
    ext = (2 << 27) | 3
    # four data records: the extend, the padding and the stamp are not events
    assert r.ts.tolist() == [1005, 1005 + ext, 1005 + ext + 7, (1 << 27) + 11 + 2]
    assert r.length.tolist() == [36, 36, 156, 36]
    # data offsets: after the header; the long record's after its array[0]
    assert r.pos.tolist() == [16 + 4, 16 + 40 + 8 + 4, 16 + 40 + 8 + 40 + 16 + 8, 16 + 40 + 8 + 40 + 16 + 164 + 8 + 4]
    assert (r.pages, r.pages_missed, r.missed_stored) == (1, 0, 0)


def test_walk_rest_of_page_padding_and_missed_events():
    f = alloc_format()
    p = alloc_payload(f, 7, 0, 0, 0)
    recs = data_rec(p, 1) + word(29, 0) + bytes(12)  # null padding: the rest of the page
    pages = page(recs, 50, flags=(1 << 31) | (1 << 30), stored=123) + page(data_rec(p, 4), 60)
    r = walk_pages(np.frombuffer(pages, np.uint8), header())
    assert r.ts.tolist() == [51, 64] and r.page.tolist() == [0, 1]
    assert (r.pages, r.pages_missed, r.missed_stored) == (2, 1, 123)


def test_walk_ring_order_across_pages():
    f = alloc_format()
    recs = [data_rec(alloc_payload(f, i, 0, 0, 0), 1) for i in range(3)]
    buf = page(b"".join(recs), 100) + page(recs[0], 200) + page(b"".join(recs[:2]), 300)
    r = walk_pages(np.frombuffer(buf, np.uint8), header())
    assert r.ts.tolist() == [101, 102, 103, 201, 301, 302]
    assert r.page.tolist() == [0, 0, 0, 1, 2, 2]


def test_truncated_page():
    buf = page(b"", 1)[:4000]
    with pytest.raises(TraceError, match="truncated: the last page has 4000 bytes"):
        walk_pages(np.frombuffer(buf, np.uint8), header(), "cpu0.raw")


def test_corrupt_page_header():
    buf = bytearray(page(b"", 1))
    buf[8:16] = struct.pack("<Q", 5000)
    with pytest.raises(TraceError, match=r"cpu0.raw: page 0 .*commit says 5000 bytes.*corrupt page header"):
        walk_pages(np.frombuffer(bytes(buf), np.uint8), header(), "cpu0.raw")


def test_record_past_its_page():
    f = alloc_format()
    recs = data_rec(alloc_payload(f, 1, 0, 0, 0), 1)
    buf = bytearray(page(recs, 1))
    buf[8:16] = struct.pack("<Q", 20)  # commit ends inside the record
    with pytest.raises(TraceError, match=r"page 0 .*record at data offset 0.*runs past"):
        walk_pages(np.frombuffer(bytes(buf), np.uint8), header(), "x")


def test_zero_length_record_refused():
    recs = word(0, 1) + struct.pack("<I", 0) + bytes(8)  # type_len 0 with a length of 0: would never advance
    with pytest.raises(TraceError, match="runs past|corrupt"):
        walk_pages(np.frombuffer(page(recs, 1), np.uint8), header(), "x")


def test_unknown_event_id():
    f = alloc_format()
    p = bytearray(alloc_payload(f, 1, 0, 0, 0))
    p[0:2] = struct.pack("<H", 9999)
    h, _, formats = load_formats(FORMATS)
    with pytest.raises(TraceError, match="event id 9999 is not among the recorded formats"):
        decode([CpuPages(0, page(data_rec(bytes(p), 1), 1), "cpu0.raw")], h, formats)


def test_missing_field_named():
    h, _, formats = load_formats(FORMATS)
    f = next(x for x in formats.values() if x.name == "mm_page_alloc")
    text = "\n".join(ln for ln in (FORMATS / "kmem" / "mm_page_alloc.format").read_text().splitlines()
                     if "gfp_flags;" not in ln)
    formats[f.id] = parse_event_format(text, "kmem", "old-kernel/mm_page_alloc/format")
    with pytest.raises(TraceError, match=r"old-kernel/mm_page_alloc/format: event kmem:mm_page_alloc has no field "
                                         r"'gfp_flags'"):
        decode([CpuPages(0, page(b"", 1), "x")], h, formats)


def test_record_shorter_than_its_format():
    f = alloc_format()
    h, _, formats = load_formats(FORMATS)
    short = alloc_payload(f, 1, 0, 0, 0)[:28]
    with pytest.raises(TraceError, match="a mm_page_alloc record of 28 bytes.*needs 36"):
        decode([CpuPages(0, page(data_rec(short, 1), 1), "x")], h, formats)


def test_another_kernels_layout_reads_by_its_format():
    """Fields at other offsets (a kernel that put migratetype first) read by the format."""
    text = (FORMATS / "kmem" / "mm_page_alloc.format").read_text()
    moved = (text.replace("pfn;\toffset:8;", "pfn;\toffset:16;").replace("order;\toffset:16;", "order;\toffset:12;")
             .replace("migratetype;\toffset:32;", "migratetype;\toffset:8;"))
    f = parse_event_format(moved, "kmem", "other")
    payload = struct.pack("<HBBiiIQQ", f.id, 0, 0, 9, 3, 2, 0x5000, 0xCC0) + bytes(4)
    h, _, formats = load_formats(FORMATS)
    formats[f.id] = f
    df = decode([CpuPages(1, page(data_rec(payload, 1), 10), "x")], h, formats).frame
    row = df.row(0, named=True)
    assert (row["pfn"], row["order"], row["migratetype"], row["gfp_flags"], row["pid"], row["cpu"]) == \
        (0x5000, 2, 3, 0xCC0, 9, 1)


def test_failed_allocation_pfn_is_null():
    f = alloc_format()
    h, _, formats = load_formats(FORMATS)
    recs = data_rec(alloc_payload(f, 2**64 - 1, 3, 0xCC0, 0), 1) + data_rec(alloc_payload(f, 5, 0, 0, 0), 1)
    df = decode([CpuPages(0, page(recs, 1), "x")], h, formats).frame
    assert df["pfn"].to_list() == [None, 5]
    assert df["order"].to_list() == [3, 0]


def test_cpus_merged_in_time_order():
    f = alloc_format()
    h, _, formats = load_formats(FORMATS)
    a = page(b"".join(data_rec(alloc_payload(f, i, 0, 0, 0), 10) for i in range(3)), 0)  # 10, 20, 30
    b = page(b"".join(data_rec(alloc_payload(f, 100 + i, 0, 0, 0), 10) for i in range(2)), 5)  # 15, 25
    df = decode([CpuPages(0, a, "a"), CpuPages(1, b, "b")], h, formats).frame
    assert df["ts_ns"].to_list() == [10, 15, 20, 25, 30]
    assert df["cpu"].to_list() == [0, 1, 0, 1, 0]
    assert df["pfn"].to_list() == [0, 100, 1, 101, 2]
    assert df.schema == ev.schema()


# ------------------------------------------------------------------ real pages from Linux 6.18
def test_real_pages_match_the_kernels_text():
    """The stored cpu0 pages decode to exactly what the kernel printed for them (its
    ``trace`` file, read before the pages were consumed): every column, times to the us."""
    h, _, formats = load_formats(FORMATS)
    raw = (KERNEL / "kernel-cpu0.raw").read_bytes()
    got = decode([CpuPages(0, raw, "kernel-cpu0.raw")], h, formats).frame
    text = mmkit.trace.read_text(KERNEL / "kernel.txt", formats=FORMATS)
    assert got.height == text.height > 500
    # the kernel prints microseconds rounded (ns2usecs adds 500 ns)
    got = got.with_columns(((pl.col("ts_ns") + 500) // 1000 * 1000).alias("ts_ns"))
    for c in got.columns:
        assert got[c].equals(text[c]), c
    assert set(got["event"].unique().to_list()) >= {"mm_page_alloc", "mm_page_free"}


# ------------------------------------------------------------------ text readers
def test_perf_script_sample():
    df = mmkit.trace.read_text(PERF)
    counts = dict(df.group_by("event").len().iter_rows())
    lines = PERF.read_text().splitlines()
    assert df.height == len(lines)
    for name in ("mm_page_alloc", "mm_page_free", "mm_compaction_isolate_migratepages", "mm_compaction_finished"):
        assert counts[name] == sum(f":{name}:" in ln for ln in lines), name
    first = df.row(0, named=True)
    m = re.search(r"perf +(\d+) \[(\d+)\] (\d+)\.(\d+): +kmem:mm_page_alloc: page=\S+ pfn=(0x[0-9a-f]+) order=(\d+) "
                  r"migratetype=(\d+) gfp_flags=(\S+)", lines[0])
    assert m, lines[0]
    assert first["pid"] == int(m[1]) and first["cpu"] == int(m[2])
    assert first["ts_ns"] == int(m[3]) * 10**9 + int(m[4]) * 1000
    assert first["pfn"] == int(m[5], 16) and first["order"] == int(m[6]) and first["migratetype"] == int(m[7])
    assert m[8] == "GFP_HIGHUSER|__GFP_ACCOUNT" and first["gfp_flags"] == 0x100CC2 | 0x400000
    assert df["ts_ns"].is_sorted()
    iso = df.filter(pl.col("event") == "mm_compaction_isolate_migratepages").row(0, named=True)
    assert (iso["start_pfn"], iso["end_pfn"]) == (0x1, 0x200) and iso["nr_scanned"] == 511


def test_trace_cmd_report_sample():
    df = mmkit.trace.read_text(TRACE_CMD)
    lines = [ln for ln in TRACE_CMD.read_text().splitlines() if ln.startswith("tcsample:")]
    assert df.height == len(lines)
    end = df.filter(pl.col("event") == "mm_compaction_end")
    begin = df.filter(pl.col("event") == "mm_compaction_begin")
    assert end.height >= 1 and begin.height >= 1
    assert end["sync"].to_list() == [1] * end.height
    assert set(end["status"].to_list()) <= {5, 7, 8}  # complete, contended... as printed
    fin = df.filter(pl.col("event") == "mm_compaction_finished").row(0, named=True)
    assert (fin["nid"], fin["zid"], fin["order"], fin["status"]) == (0, 0, -1, 4)  # node=0 zone=DMA ret=continue
    mig = df.filter(pl.col("event") == "mm_migrate_pages").row(0, named=True)
    # nr_succeeded=1 nr_failed=0 ... mode=MIGRATE_SYNC reason=compaction
    assert (mig["nr_migrated"], mig["nr_failed"], mig["mode"], mig["reason"], mig["large_folio_split"]) == (1, 0, 2, 0, 0)


def test_same_events_in_both_text_forms(tmp_path):
    """A trace-cmd line and the perf line of the same event give the same row."""
    tc = tmp_path / "tc.txt"
    perf = tmp_path / "perf.txt"
    tc.write_text("cpus=2\n   bash-28200 [001] 11356.396934: mm_page_alloc:        page=0x107750 pfn=0x107750 order=2 "
                  "migratetype=1 gfp_flags=GFP_NOFS|__GFP_NOWARN|0x4000000\n")
    perf.write_text("            bash 28200 [001] 11356.396934:     kmem:mm_page_alloc: page=0x107750 pfn=0x107750 "
                    "order=2 migratetype=1 gfp_flags=GFP_NOFS|__GFP_NOWARN|0x4000000\n")
    a, b = mmkit.trace.read_text(tc), mmkit.trace.read_text(perf)
    assert a.equals(b)
    assert a["gfp_flags"][0] == 0xC40 | 0x2000 | 0x4000000


@pytest.mark.parametrize("line, match", [
    ("   bash-1 [000] 1.000001: sched_switch: prev=a\n", r"x.txt:1: event sched_switch is not one mmkit reads"),
    ("   bash-1 [000] 1.000001: mm_page_alloc: page=0 pfn=0x1 order=0 migratetype=0 gfp_flags=GFP_BOGUS\n",
     r"x.txt:1: unknown gfp flag 'GFP_BOGUS'"),
    ("   bash-1 [000] 1.000001: mm_page_alloc: page=0 pfn=0x1 migratetype=0 gfp_flags=GFP_KERNEL\n",
     r"x.txt:1: mm_page_alloc: no order"),
    ("   bash-1 [000] 1.000001: mm_page_free: page=0 pfn=zz order=0\n", r"x.txt:1: mm_page_free: pfn='zz' is not a number"),
    ("hello world\n", r"x.txt:1: not an event line"),
    ("CPU:1 [LOST 17 EVENTS]\n", r"x.txt:1: the tracer lost 17 events on CPU 1"),
    ("   sh-1 [000] 1.000001: mm_compaction_end: zone_start=0x1 migrate_pfn=0x1 free_pfn=0x2 zone_end=0x3, mode=sync "
     "status=bogus\n", r"status=bogus is not a name"),
    ("   bash-1 [000] 1.000001: mm_page_free: page=0 pfn=0x1 order=70000\n", r"order=70000 does not fit"),
])
def test_text_bad_input(tmp_path, line, match):
    p = tmp_path / "x.txt"
    p.write_text(line)
    with pytest.raises(TraceError, match=match):
        mmkit.trace.read_text(p)


def test_text_skip_unknown_and_allow_lost(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("# tracer: nop\nCPU:1 [LOST 17 EVENTS]\n   bash-1 [000] 1.000001: sched_switch: prev=a\n"
                 "   bash-1 [000] 1.000002: mm_page_free: page=0 pfn=0x10 order=1\n")
    with pytest.warns(UserWarning, match="lost 17 events"):
        df = mmkit.trace.read_text(p, unknown="skip", allow_lost=True)
    assert df.height == 1 and df["pfn"][0] == 16 and df["order"][0] == 1
    with pytest.raises(ParameterError):
        mmkit.trace.read_text(p, unknown="maybe")


def test_text_binary_file_refused(tmp_path):
    with pytest.raises(TraceError, match="not text"):
        mmkit.trace.read_text(KERNEL / "kernel-cpu0.raw")
    with pytest.raises(TraceError, match="no such file"):
        mmkit.trace.read_text(tmp_path / "none.txt")


# ------------------------------------------------------------------ stored traces
def make_trace(tmp_path: Path) -> Path:
    h, _, formats = load_formats(FORMATS)
    df = decode([CpuPages(0, (KERNEL / "kernel-cpu0.raw").read_bytes(), "x")], h, formats).frame
    d = tmp_path / "tr"
    d.mkdir()
    df.write_parquet(d / "events.parquet")
    (d / "meta.json").write_text(json.dumps({"format": "mmkit-trace", "events": df.height, "lost_total": 0}))
    for s in ("start", "end"):
        (d / s).mkdir()
        (d / s / "meta.json").write_text("{}")
    return d


def test_load_round_trip(tmp_path):
    d = make_trace(tmp_path)
    t = mmkit.trace.load(d)
    assert t.events.height == t.meta["events"] > 0
    assert t.events.schema == ev.schema()
    assert t.start == d / "start" and t.end == d / "end"
    assert "events" in repr(t)


@pytest.mark.parametrize("damage, match", [
    (lambda d: (d / "meta.json").unlink(), r"meta.json: missing"),
    (lambda d: (d / "meta.json").write_text('{"format": "mmkit-tr'), r"meta.json: not valid JSON"),
    (lambda d: (d / "meta.json").write_text('{"format": "other"}'), r"not a trace's meta.json"),
    (lambda d: (d / "events.parquet").unlink(), r"events.parquet: missing"),
    (lambda d: (d / "events.parquet").write_bytes((d / "events.parquet").read_bytes()[:300]),
     r"events.parquet: cannot be read as parquet.*truncated or corrupt"),
    (lambda d: (d / "meta.json").write_text('{"format": "mmkit-trace", "events": 3}'), r"rows, meta.json says 3"),
    (lambda d: shutil.rmtree(d / "end"), r"the end snapshot is missing"),
    (lambda d: pl.read_parquet(d / "events.parquet").drop("pfn").write_parquet(d / "events.parquet"),
     r"no column pfn"),
])
def test_load_bad_folder(tmp_path, damage, match):
    d = make_trace(tmp_path)
    damage(d)
    with pytest.raises(TraceError, match=match):
        mmkit.trace.load(d)


def test_load_not_a_folder(tmp_path):
    with pytest.raises(TraceError, match="no such trace folder"):
        mmkit.trace.load(tmp_path / "nothing")


# ------------------------------------------------------------------ the table, the docs, the arguments
def test_every_column_documented():
    doc = mmkit.trace.__doc__
    page = (ROOT / "docs" / "trace.md").read_text()
    for c in ev.COLUMNS:
        assert f"``{c.name}``" in doc, c.name
        assert f"`{c.name}`" in page, c.name
    for e in ev.EVENTS:
        assert e.name in page, e.name


def test_event_table_consistent():
    assert len(set(ev.EVENT_NAMES)) == len(ev.EVENT_NAMES) < 127  # codes fit the Int8 column
    assert set(ev.REQUIRED_EVENTS) == {"kmem:mm_page_alloc", "kmem:mm_page_free"}
    # every field the table reads exists in this kernel's format of that event
    _, _, formats = load_formats(FORMATS)
    by_name = {f.name: f for f in formats.values()}
    for spec in ev.EVENTS:
        if spec.name in by_name:
            for field in spec.required:
                assert by_name[spec.name].field(field) is not None, (spec.name, field)


@pytest.mark.parametrize("kw, match", [
    ({"seconds": 0}, "seconds"), ({"seconds": True}, "seconds"), ({"seconds": "2"}, "seconds"),
    ({"seconds": 1, "events": ["kmem:mm_page_free"]}, "kmem:mm_page_alloc is required"),
    ({"seconds": 1, "events": ["kmem:mm_page_alloc", "kmem:mm_page_free", "sched:sched_switch"]}, "sched_switch"),
    ({"seconds": 1, "events": "kmem:mm_page_alloc"}, "list of"),
    ({"seconds": 1, "buffer_kb": 1}, "buffer_kb"), ({"seconds": 1, "progress": "yes"}, "progress"),
    ({"seconds": 1, "attempts": 0}, "attempts"),
])
def test_record_arguments_checked_first(tmp_path, kw, match):
    with pytest.raises(ParameterError, match=match):
        mmkit.trace.record(tmp_path / "t", **kw)
    assert not list(tmp_path.iterdir())


def test_record_existing_folder_refused(tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "x").write_text("")
    with pytest.raises(ParameterError, match="already exists"):
        mmkit.trace.record(tmp_path / "t", 1)


def test_record_without_root_refused(tmp_path, monkeypatch):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(TracingUnavailableError, match="needs root"):
        mmkit.trace.record(tmp_path / "t", 1, progress=False)
    assert not list(tmp_path.iterdir())  # no temporary folder left


def test_cli_arguments():
    import argparse

    from mmkit.cli import _add_trace_record

    p = argparse.ArgumentParser()
    _add_trace_record(p)
    a = p.parse_args(["out", "--seconds", "2.5", "--buffer-kb", "4096", "--events", "kmem:mm_page_alloc,kmem:mm_page_free"])
    assert (a.dir, a.seconds, a.buffer_kb, a.events) == ("out", 2.5, 4096, "kmem:mm_page_alloc,kmem:mm_page_free")
    with pytest.raises(SystemExit):
        p.parse_args(["out"])  # --seconds is required
    with pytest.raises(SystemExit):
        p.parse_args(["out", "--seconds", "0"])


def test_cli_error_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert mmkit.trace.main_record([str(tmp_path / "t"), "--seconds", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mmkit: error: recording the page allocator needs root") and err.count("\n") == 1
