"""``/proc/buddyinfo`` text of a Snapshot or a Memory, exactly as the kernel prints it."""

from __future__ import annotations

from typing import Any

import numpy as np

from mmkit.errors import ParameterError

__all__ = ["buddyinfo"]


def buddyinfo(obj: Any) -> str:
    """The text of ``/proc/buddyinfo`` for ``obj``, a :class:`~mmkit.snapshot.Snapshot` or a
    ``Memory``.

    ``frag_show_print`` (mm/vmstat.c, unchanged from v4.5 to v6.18) prints one line per
    populated zone (``walk_zones_in_node(..., assert_populated=true, ...)``:
    ``present_pages != 0``): ``"Node %d, zone %8s "``, then ``"%6lu "`` for each order's
    ``free_area[order].nr_free``, then ``"\\n"``. A Memory is node 0 (or ``meta["node"]``
    for one rebuilt from a snapshot); a Snapshot prints its own buddyinfo lines.
    """
    if not (hasattr(obj, "zone_names") and hasattr(obj, "nr_free")):
        raise ParameterError(f"{type(obj).__name__} has no zone_names / nr_free: give a Snapshot or a Memory")
    names = [str(z) for z in obj.zone_names]
    nr_free = np.asarray(obj.nr_free)
    if nr_free.ndim != 2 or nr_free.shape[0] != len(names):
        raise ParameterError(f"nr_free: shape {nr_free.shape} does not match {len(names)} zones")
    nodes = getattr(obj, "zone_nodes", None)
    if nodes is None:
        node = int((getattr(obj, "meta", None) or {}).get("node", 0))
        nodes = [node] * len(names)
    present = getattr(obj, "zone_present", None)
    out = []
    for i, name in enumerate(names):
        if present is not None and int(present[i]) == 0:
            continue
        if (nr_free[i] < 0).any():
            raise ParameterError(f"nr_free: zone {name} has a negative count {nr_free[i].tolist()}")
        out.append("Node %d, zone %8s " % (int(nodes[i]), name)
                   + "".join("%6lu " % int(v) for v in nr_free[i]) + "\n")
    return "".join(out)
