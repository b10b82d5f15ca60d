"""Typed errors: every failure a user can meet is one of these, with the fix in its text.

Each class docstring says when it is raised and what to do; ``docs/errors.md`` is built
from these docstrings.
"""

from __future__ import annotations


class MmkitError(Exception):
    """Base of every error mmkit raises on purpose: any other exception out of mmkit is a
    bug (the fuzzers in ``verification/fuzz.py`` look for them).

    Fix: catch ``MmkitError`` to catch them all; the subclasses below say what to change.
    """


class ParameterError(MmkitError, ValueError):
    """A parameter of a public function is out of its allowed range or of the wrong type:
    a machine size, a tick count, a seed, a workload parameter, a zone, an order, a pfn, a
    page-types ``-b`` spec, an output folder that already exists or cannot be written. A
    bool or a str is never taken for a number (``gib=True``, ``seed='1'``). Raised before
    any work starts.

    Fix: the message names the parameter and its allowed range (or the kinds of value it
    takes); pass a value inside it. A ``ValueError`` too.
    """


class VariantError(MmkitError, ValueError):
    """A variant name is unknown or given twice, ``variants`` is not a variant or a list of
    them, two different variants carry one name, a field given to ``Variant.replace``
    does not exist or has a value outside its rule's choices, or a user-built variant
    combines rules no kernel can have (``Variant.validate`` says which and why).

    Fix: use a name from ``mmkit.variants()``; give each built variant its own name
    (``replace(..., name='mine')``; without one it is named after the rules it changed);
    for a built variant change the field the message names (the choices of each rule are
    the enums of ``mmkit.semantics``).
    """


class InvariantError(MmkitError, AssertionError):
    """A simulated memory broke one of the page-model invariants: ``Memory.check`` (free
    lists, buddy state, refcounts, page kinds, holes, PG_lru) or ``Sim.check`` (the
    owners' lists and counts between operations). ``rule``, ``pfn`` and ``detail`` say
    which and where. The faults a variant is meant to show (misrouted putbacks, LRU and
    list corruption) are events, never this error.

    Fix: none on your side unless you edited a Memory's arrays by hand: it is a bug in
    mmkit; please report it with the variant, the seed and the operations that led there
    (``verification/soak.py --repro`` replays a soak run).
    """

    def __init__(self, rule: str, pfn: int, detail: str = "") -> None:
        self.rule = rule
        self.pfn = pfn
        self.detail = detail
        msg = f"invariant broken at pfn {pfn:#x} ({pfn}): {rule}"
        if detail:
            msg += f" ({detail})"
        super().__init__(msg)


class SnapshotError(MmkitError, ValueError):
    """A kernel snapshot folder or file is missing, truncated or not what it claims to be:
    a text file with a line the kernel does not print (file and line number given), a
    number past 64 bits, more orders than a kernel has; an array that is not a whole
    number of u64 values, larger than ``max_pfns``, stored twice, invalid gzip or zstd, a
    ``.npy`` that is not a 1-D 64-bit integer array (pickles are never loaded); files of
    one snapshot that disagree (kpageflags shorter than zoneinfo's zones); a kernel whose
    kpageflags ``Memory.from_snapshot`` cannot read; a capture that cannot read /proc; a
    saved result folder (``load_result``) that cannot be read.

    Fix: the message names the file and what is wrong with it; capture again with
    ``mmkit snapshot capture DIR`` (as root, debugfs mounted), pass ``max_pfns=`` for a
    machine beyond 512 GiB, or repair or remove that file.
    """


class TraceError(MmkitError, ValueError):
    """A trace file or folder is missing, truncated or not what it claims to be: a
    ``format`` file without a field that mmkit reads (the event and field are named), a
    ring-buffer page with a corrupt header or a record running past its page (file, page
    and byte offset given), an event id that no recorded format declares, a line of
    ``perf script`` / ``trace-cmd report`` text that cannot be read (file and line
    number), a trace folder without its ``events.parquet`` or ``meta.json``.

    Fix: the message names the file and what is wrong with it; record again with
    ``mmkit trace record DIR --seconds N``, or repair or remove that file. A ``ValueError``
    too.
    """


class TracingUnavailableError(MmkitError, RuntimeError):
    """``mmkit trace record`` cannot trace this machine: not root, no tracefs in this
    kernel (or it cannot be mounted), a tracepoint that recording needs
    (``kmem:mm_page_alloc``, ``kmem:mm_page_free``) is missing, or the tracefs instance
    mmkit would create already exists (someone else's recorder of the same pid).

    Fix: run as root on a kernel with ``CONFIG_FTRACE`` and the kmem tracepoints; mmkit
    mounts tracefs at ``/sys/kernel/tracing`` when it is not mounted (and unmounts it
    after). Tracing settings are restored exactly as found whatever happens.
    """


class OutOfMemoryError(MmkitError, MemoryError):
    """A workload asked for more pages than the simulated machine has. Reserved: today an
    allocation that fails inside a run is counted (vmstat ``alloc_fail``, ``oom``) as the
    kernel counts it, and the run goes on; nothing raises this yet.

    Fix: make the machine larger (``gib=``) or the workload smaller.
    """


class Interrupted(KeyboardInterrupt):
    """A long call was stopped by an interrupt: Ctrl-C (SIGINT), ``timeout -s INT``,
    JupyterLab's stop button, or ``stop.set()`` on the Event given to ``compare``. Every
    long call stops within a second: ``compare``/``simulate`` between chunks of ticks,
    ``sweep`` between cells (the local workers are stopped, a Dask cluster's cells
    cancelled), ``Memory.from_snapshot`` and ``compact_memory`` between pieces of their
    work. Nothing is left half-written: results and a sweep's cells are written to a
    temporary name and renamed. The message says how far the call got; ``partial`` holds
    what ``compare`` finished: a ``Result`` with each variant's run up to its last
    completed chunk (``info["stopped_at"]`` gives each one's tick), or None when it
    stopped before tick 1. A ``KeyboardInterrupt`` (not an ``MmkitError``), so
    ``except Exception`` does not swallow it and code written for Ctrl-C keeps working.

    Fix: nothing to fix; run the call again to finish it (a sweep with the same ``out=``
    runs only the cells not yet finished), or use ``partial``.
    """

    def __init__(self, message: str, partial: object = None, progress: str | None = None) -> None:
        super().__init__(message)
        self.partial = partial
        self.progress = progress or message  # how far it got, in one line (what the CLI prints)
