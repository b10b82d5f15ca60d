"""``echo 1 > /proc/sys/vm/compact_memory`` on a copy of a Memory: :func:`compact_memory`.

The sysctl's handler (``sysctl_compaction_handler``, mm/compaction.c) calls
``compact_nodes``: ``lru_add_drain_all()``, then for every node ``compact_node``, which
runs ``compact_zone`` on each populated zone with ``order = -1``, ``MIGRATE_SYNC``,
``ignore_skip_hint = true`` and ``whole_zone = true``. mmkit runs the same through
:meth:`mmkit.engine.sim.Sim.compact_memory` under the Memory's variant.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mmkit.engine.state import VMSTAT_MMKIT_OWN, VMSTAT_NAMES
from mmkit.errors import Interrupted, ParameterError
from mmkit.inputs import check_seed
from mmkit.model.flags import PG_lru
from mmkit.model.kinds import PageKind
from mmkit.model.memory import Memory
from mmkit.pieces import Pacer

__all__ = ["KERNEL_VMSTAT_NAMES", "compact_memory", "lru_add_drain_all"]

FIRST_BATCHES = 64  # isolate-and-migrate batches in a compaction's first piece

# The engine's counters that are /proc/vmstat items of the same name (mm/vmstat.c
# vmstat_text[]), in the engine's order; the others (order2_alloc, pgscan, ...) are mmkit's own.
KERNEL_VMSTAT_NAMES = tuple(n for n in VMSTAT_NAMES if n not in VMSTAT_MMKIT_OWN)


def lru_add_drain_all(memory: Memory) -> int:
    """``lru_add_drain_all``: the pages a per-CPU ``lru_add`` batch held when the Memory
    was rebuilt from a snapshot (``meta["lru_add_pending"]``) go onto their LRU lists.
    Returns how many did; pages that have since changed owner are left alone."""
    from mmkit.engine.owners import add_page_to_lru_list

    pending = memory.meta.get("lru_add_pending", ())
    A = memory.arrays()
    done = 0
    for pfn in pending:
        if not 0 <= pfn < memory.nr_pages:
            continue
        if (memory.kind[pfn] in (PageKind.ANON, PageKind.FILE) and memory.refcount[pfn] > 0
                and memory.lru_next[pfn] > -2 and not memory.flags[pfn] >> PG_lru & 1):
            add_page_to_lru_list(A, int(pfn))
            done += 1
    memory.meta["lru_add_pending"] = ()
    return done


def compact_memory(memory: Memory, variant: Any = None, *, seed: int = 0) -> tuple[Memory, dict[str, int]]:
    """What ``echo 1 > /proc/sys/vm/compact_memory`` does, on a copy of ``memory``.

    Parameters
    ----------
    memory : Memory
        Left unchanged.
    variant : str or Variant, optional
        Must be the Memory's own (None means that): a Memory's page words are written in
        its variant's encodings (PageBuddy as ``_mapcount == -128`` or a page type,
        balloon and zsmalloc marks, which bit PG_isolated and PG_swapcache use), and its
        owners' bookkeeping (the balloon list, zspages) was made by that variant's code.
        Rewriting a live Memory for another kernel would have to guess that bookkeeping,
        so this refuses; build the Memory under the other variant instead
        (``Memory.from_snapshot(path, variant=...)``, ``Memory.synthetic(..., variant=...)``).
    seed : int
        The seed of the simulated machine's random choices.

    Returns
    -------
    (Memory, dict)
        The compacted copy, and the vmstat deltas under their kernel names
        (``pgmigrate_success``, ``compact_migrate_scanned``, ``compact_free_scanned``,
        ``compact_isolated``, ...). The copy's ``meta["compact_memory"]`` holds each
        zone's ``compact_zone`` result.

    Raises
    ------
    ParameterError
        Not a Memory, a Memory without a variant, or another variant than its own.
    Interrupted
        Ctrl-C stops it within a second, between pieces of the compaction, saying which
        zone it was in and how far; ``memory`` is unchanged and nothing is returned.

    Notes
    -----
    Every zone with present pages is compacted (``compact_nodes`` in
    ``mm/compaction.c``: order -1, sync, skip hints ignored, the whole zone) after
    ``lru_add_drain_all``.

    Examples
    --------
    >>> mem = mmkit.Memory.synthetic(mib=64, variant="v6.18")
    >>> after, vm = mmkit.compact_memory(mem)
    >>> vm["pgmigrate_success"]
    0
    """
    from mmkit.engine import compaction as _cp
    from mmkit.engine.sim import COMPACT_RESULT_NAMES, Sim
    from mmkit.engine.state import ST_BALLOON_PAGES
    from mmkit.semantics import variant as get_variant

    if not isinstance(memory, Memory):
        raise ParameterError(f"memory: expected a mmkit.Memory, got {type(memory).__name__}")
    seed = check_seed(seed)
    if memory.variant is None:
        raise ParameterError("memory: this Memory has no variant; build it with Memory.synthetic or "
                             "Memory.from_snapshot, which set one")
    if variant is not None:
        v = get_variant(variant)
        if v.compile().tolist() != memory.variant.compile().tolist():
            src = memory.meta.get("snapshot_path")
            how = (f"mmkit.Memory.from_snapshot({src!r}, variant={v.name!r})" if src
                   else f"mmkit.Memory.synthetic(..., variant={v.name!r})")
            raise ParameterError(
                f"variant: {v.name!r} differs from this Memory's {memory.variant.name!r}. A Memory's page "
                f"words are encoded for its own variant (PageBuddy, page types, balloon and zsmalloc marks, "
                f"the PG_isolated and PG_swapcache bits) and its owners' bookkeeping was made by that "
                f"variant's code, so it is not re-encoded in place; build it for {v.name!r} instead: {how}"
            )
    out = memory.copy()
    drained = lru_add_drain_all(out)
    sim = Sim(out, seed)
    # the balloon's page count lives in the simulation state (balloon_dev_info), not in
    # the page arrays: a fresh Sim learns it from the frames the balloon owns (the
    # per-pageblock counts of kinds it has just recounted)
    sim.S.st[ST_BALLOON_PAGES] = int(out.pb_nr_kind[:, PageKind.BALLOON].sum())
    # compact_node: populated zones only, lowest first
    results, scanners = {}, {}
    zones = [z for z in range(out.nr_zones) if out.zone_present[z] != 0]
    for z in zones:
        name = out.zone_names[z]
        cc = _cp.new_cc(z, -1, True, True)
        try:
            results[name] = COMPACT_RESULT_NAMES[_compact_zone_in_pieces(sim, cc)]
        except KeyboardInterrupt:
            span = int(out.zone_end[z] - out.zone_start[z])
            done = (int(cc[_cp.CC_MIGRATE_PFN]) - int(out.zone_start[z])) / span if span else 0.0
            raise Interrupted(f"compact_memory stopped in zone {name} ({zones.index(z) + 1} of {len(zones)} zones), "
                              f"its migrate scanner {max(done, 0.0):.0%} through the zone; the Memory given "
                              f"is unchanged (it works on a copy)") from None
        # where compact_zone left its scanners (mm_compaction_end's migrate_pfn, free_pfn)
        scanners[name] = {"migrate_pfn": int(cc[_cp.CC_MIGRATE_PFN]), "free_pfn": int(cc[_cp.CC_FREE_PFN])}
    vm = sim.vmstat
    out.meta["compact_memory"] = {"variant": out.variant.name, "results": results, "scanners": scanners,
                                  "lru_add_drained": drained}
    return out, {name: int(vm[name]) for name in KERNEL_VMSTAT_NAMES if name in vm}


def _compact_zone_in_pieces(sim, cc: np.ndarray) -> int:
    """``compact_zone`` with ``cc`` (the engine's), its loop run in pieces of about
    0.1 s so that an interrupt is seen between them (a whole-zone compaction of a large
    machine takes seconds in one call); the same result as one call. Returns the
    compact_result."""
    from mmkit.engine import compaction as _cp

    ret = int(_cp.compact_zone_begin(sim.A, sim.vc, sim.S, cc))
    if ret >= 0:
        return ret
    pace = Pacer(FIRST_BATCHES)
    while True:
        n = pace.next()
        if _cp.compact_zone_steps(sim.A, sim.vc, sim.S, cc, n):
            break
        pace.done(n)
    return int(_cp.compact_zone_end(sim.A, sim.vc, sim.S, cc))
