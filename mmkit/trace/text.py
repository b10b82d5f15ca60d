"""Reading the text that existing tools print for the same tracepoints into the event
frame of :func:`mmkit.trace.load`:

* ``perf script`` (``comm tid [cpu] secs: kmem:mm_page_alloc: page=... pfn=0x... ...``),
* ``trace-cmd report`` (``[instance:] comm-pid [cpu] secs: mm_page_alloc: ...``),
* tracefs' own ``trace`` / ``trace_pipe`` (``comm-pid [cpu] flags secs: mm_page_alloc: ...``).

Each line's ``key=value`` text is what the event's ``print fmt`` prints; the numbers come
back through the printed names (gfp names from ``__print_flags``, ``status=success``
from ``__print_symbolic``) of the tracing kernel's format files when ``formats=`` names a
folder of them (a recorded trace's ``formats/``, or tracefs' ``events/``), else of
v6.18's (:mod:`mmkit.trace.symbols_6_18`). Text keeps microseconds, so ``ts_ns`` is a
multiple of 1000 unless the tool printed nanoseconds.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
import polars as pl

from mmkit.errors import ParameterError
from mmkit.trace import events as ev
from mmkit.trace.decode import finish
from mmkit.errors import TraceError
from mmkit.trace.formats import parse_event_format
from mmkit.trace.printfmt import flag_names, symbol_tables
from mmkit.trace.symbols_6_18 import GFP_NAMES, SYMBOLS

__all__ = ["read_text"]

_LINE = re.compile(
    r"^(?:(?P<inst>[\w.-]+):\s+)?\s*(?P<comm>.*?)[- ](?P<pid>-?\d+)\s+(?:\(\s*[-\d]+\)\s+)?"
    r"\[(?P<cpu>\d+)\]\s+(?:[\w.]{4,6}\s+)?(?P<ts>\d+)\.(?P<frac>\d+):\s+(?:(?P<sys>\w+):)?(?P<event>\w+):\s*(?P<rest>.*)$")
_KV = re.compile(r"(\w+)=(\([^)]*\)|[^\s,]+)")
_LOST = re.compile(r"CPU:?\s*(\d+)\s*\[(?:LOST\s+)?(\d+)\s+EVENTS(?:\s+DROPPED)?\]")
_SKIP = re.compile(r"^\s*(?:#|cpus=\d+|CPU \d+ is empty|version\s*=|$)")

# printed key -> kernel field, where the print fmt's key is not the field's name (None: ignored)
_RENAME: dict[str, dict[str, str | None]] = {
    "mm_compaction_begin": {"mode": "sync"},
    "mm_compaction_end": {"mode": "sync"},
    "mm_compaction_try_to_compact_pages": {"gfp_mask": "gfp_mask", "priority": "prio"},
    "mm_compaction_wakeup_kcompactd": {"classzone_idx": "highest_zoneidx"},
    "mm_compaction_kcompactd_wake": {"classzone_idx": "highest_zoneidx"},
    "mm_migrate_pages": {"nr_succeeded": "succeeded", "nr_failed": "failed", "nr_thp_succeeded": "thp_succeeded",
                         "nr_thp_failed": "thp_failed", "nr_thp_split": "thp_split", "nr_split": "large_folio_split"},
    "mm_khugepaged_scan_pmd": {"scan_pfn": "pfn"},
    "mm_collapse_huge_page_isolate": {"scan_pfn": "pfn"},
}
for _n in ("mm_compaction_deferred", "mm_compaction_defer_compaction", "mm_compaction_defer_reset",
           "mm_compaction_suitable", "mm_compaction_finished"):
    _RENAME[_n] = {"node": "nid", "zone": "idx"}
_GFP_FIELDS = {"gfp_flags", "gfp_mask"}
# printed keys of fields mmkit does not keep, or that the kernel computes (not a field)
_PRINTED_REQUIRED_EXCEPT = {"mm_page_free_batched": {"order"}}


def _tables(formats: str | os.PathLike | None) -> tuple[dict[str, int], dict[str, dict[str, dict[str, int]]]]:
    if formats is None:
        return GFP_NAMES, SYMBOLS
    root = Path(formats)
    if not root.is_dir():
        raise ParameterError(f"formats: {root} is not a folder of format files (a trace's formats/ or tracefs events/)")
    gfp: dict[str, int] = {}
    sym: dict[str, dict[str, dict[str, int]]] = {}
    for spec in ev.EVENTS:
        for p in (root / spec.system / f"{spec.name}.format", root / spec.system / spec.name / "format"):
            if p.exists():
                fmt = parse_event_format(p.read_text(), spec.system, str(p))
                if spec.name == "mm_page_alloc":
                    gfp = flag_names(fmt.print_fmt)
                t = symbol_tables(fmt.print_fmt)
                if t:
                    sym[spec.name] = t
                break
    return gfp or GFP_NAMES, sym


def _gfp(text: str, names: dict[str, int], where: str) -> int:
    if text == "none":
        return 0
    bits = 0
    for tok in text.split("|"):
        if tok in names:
            bits |= names[tok]
        elif tok.startswith("0x"):
            try:
                bits |= int(tok, 16)
            except ValueError:
                raise TraceError(f"{where}: gfp flags {text!r}: {tok!r} is not a number") from None
        else:
            raise TraceError(f"{where}: unknown gfp flag {tok!r} in {text!r} (pass formats= the tracing "
                             "kernel's format files to read its names)")
    return bits


def read_text(path: str | os.PathLike, *, formats: str | os.PathLike | None = None, unknown: str = "error",
              allow_lost: bool = False) -> pl.DataFrame:
    """The event frame of a ``perf script``, ``trace-cmd report`` or tracefs ``trace``
    text file (same columns as :func:`mmkit.trace.load`'s ``events``, time order).

    Parameters
    ----------
    path : path
        The text file.
    formats : path, optional
        Folder of the tracing kernel's format files, for its gfp and symbolic names.
    unknown : {'error', 'skip'}
        What to do with a line of an event mmkit does not read (``sched:sched_switch``).
    allow_lost : bool
        A ``CPU:N [LOST k EVENTS]`` line raises :class:`TraceError` unless this is True
        (then a warning gives the total).

    Raises :class:`TraceError` naming the file and line for a line that is neither an
    event nor a header, an unknown event (``unknown='error'``), a required value missing
    (``pfn``, ``order``... of the event), an unknown gfp or symbolic name, or lost events.
    """
    if unknown not in ("error", "skip"):
        raise ParameterError(f"unknown: {unknown!r}; give 'error' or 'skip'")
    p = Path(path)
    try:
        data = p.read_text(errors="strict")
    except FileNotFoundError:
        raise TraceError(f"{p}: no such file") from None
    except UnicodeDecodeError as e:
        raise TraceError(f"{p}: not text (byte {e.start} is not UTF-8); is this a binary trace?") from None
    gfp_names, symbols = _tables(formats)
    cols: dict[str, list] = {c.name: [] for c in ev.COLUMNS}
    n = 0
    lost = 0
    specs = {s.name: (s, dict(s.fields)) for s in ev.EVENTS}
    for lineno, line in enumerate(data.splitlines(), 1):
        m = _LINE.match(line)
        if m is None:
            if _SKIP.match(line):
                continue
            lm = _LOST.search(line)
            if lm:
                lost += int(lm[2])
                if not allow_lost:
                    raise TraceError(f"{p}:{lineno}: the tracer lost {lm[2]} events on CPU {lm[1]} ({line.strip()!r}); "
                                     "pass allow_lost=True to read the rest")
                continue
            raise TraceError(f"{p}:{lineno}: not an event line of perf script, trace-cmd report or tracefs: "
                             f"{line.strip()[:120]!r}")
        name = m["event"]
        if name not in specs:
            if unknown == "skip":
                continue
            raise TraceError(f"{p}:{lineno}: event {(m['sys'] + ':') if m['sys'] else ''}{name} is not one mmkit reads "
                             "(pass unknown='skip' to leave such lines out)")
        spec, to_col = specs[name]
        where = f"{p}:{lineno}"
        rename = _RENAME.get(name, {})
        sym = symbols.get(name, {})
        row: dict[str, int | None] = {}
        kv = _KV.findall(m["rest"])
        page_text = None
        for key, val in kv:
            if key == "page":
                page_text = val
                continue
            if key == "range" and "start_pfn" in to_col:
                rm = re.fullmatch(r"\(\s*(0x[0-9a-fA-F]+|\d+)\s*~\s*(0x[0-9a-fA-F]+|\d+)\s*\)", val)
                if not rm:
                    raise TraceError(f"{where}: {name}: range {val!r} is not '(start ~ end)'")
                row["start_pfn"], row["end_pfn"] = int(rm[1], 0), int(rm[2], 0)
                continue
            field = rename.get(key, key)
            if field is None or field not in to_col:
                continue
            col = to_col[field]
            if field in _GFP_FIELDS:
                row[col] = _gfp(val, gfp_names, where)
            elif field in sym and not re.fullmatch(r"-?(?:0x[0-9a-fA-F]+|\d+)", val):
                if val not in sym[field]:
                    raise TraceError(f"{where}: {name}: {key}={val} is not a name the kernel prints for {field} "
                                     f"({', '.join(sym[field])})")
                row[col] = sym[field][val]
            else:
                try:
                    row[col] = int(val, 0)
                except ValueError:
                    raise TraceError(f"{where}: {name}: {key}={val!r} is not a number") from None
        for f in spec.required:
            c = to_col[f]
            if c not in row and f not in _PRINTED_REQUIRED_EXCEPT.get(name, ()):
                raise TraceError(f"{where}: {name}: no {f} in {m['rest'][:120]!r}")
        # a failed allocation prints page=(nil) (or 0) and pfn=0: the binary trace has pfn -1 (null)
        if page_text is not None and page_text in ("(nil)", "0", "0000000000000000", "0x0") and name == "mm_page_alloc":
            row["pfn"] = None
        frac = (m["frac"] + "000000000")[:9]
        cols["ts_ns"].append(int(m["ts"]) * 1_000_000_000 + int(frac))
        cols["cpu"].append(int(m["cpu"]))
        cols["event"].append(ev.EVENT_NAMES.index(name))
        cols["pid"].append(int(m["pid"]))
        for c in ev.COLUMNS[4:]:
            cols[c.name].append(row.get(c.name))
        n += 1
    if lost:
        warnings.warn(f"{p}: the tracer lost {lost} events", stacklevel=2)
    sch = ev.schema()
    try:
        df = pl.DataFrame({c: pl.Series(c, v, dtype=(pl.Int8 if c == "event" else sch[c]), strict=False)
                           for c, v in cols.items()})
    except (OverflowError, pl.exceptions.PolarsError) as e:
        raise TraceError(f"{p}: a value does not fit its column ({e})") from None
    for c, v in cols.items():  # strict=False above turns a misfit into null: refuse it instead
        if df[c].null_count() != sum(x is None for x in v):
            k = next(i for i, x in enumerate(df[c].to_list()) if x is None and v[i] is not None)
            raise TraceError(f"{p}: event {k + 1}: {c}={v[k]} does not fit {sch[c]}")
    if n:
        order = np.argsort(df["ts_ns"].to_numpy(), kind="stable")
        df = df[order]
    return finish(df)
