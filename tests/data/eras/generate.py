"""Writes the era fixtures in this folder with the kernels' own print formats.

Run from the repository root: ``python tests/data/eras/generate.py`` (the files are
committed; this script documents how they were made and can remake them).

Each ``print_*`` below is a transcription of the ``seq_printf`` calls of one function of
``mm/vmstat.c`` (torvalds/linux: v4.5 = 8041dcc881c9, v6.1x = 00c010e130e5) into
Python's ``%`` formatting, which matches C's printf for ``%d``, ``%6lu``, ``%8s``,
``%12s``, ``%-43s``, ``%03d``. The free counts are made-up but plausible; the debugfs
index values are computed with the kernel's integer formulas written out again here
(independently of mmkit.metrics) so the fixtures are what those kernels would print.

* ``v3.10-reserve-numa``: before v4.4: migratetypes ``Unmovable Reclaimable Movable
  Reserve CMA Isolate`` (old ``migratetype_names[]`` in vmstat.c), two NUMA nodes (so
  pagetypeinfo is printed once per node), extfrag ``%d.%03d``.
* ``v4.5-pageowner``: ``Unmovable Movable Reclaimable HighAtomic CMA Isolate``, page_owner
  on (a "Number of mixed blocks" section), extfrag ``%d.%03d``, v4.5 zoneinfo.
* ``v6.12-13orders``: 13 orders (``NR_PAGE_ORDERS`` with ``ARCH_FORCE_MAX_ORDER=12``, 64 KiB
  pages, pageblock order 13), no CMA, no Isolate (``CONFIG_MEMORY_ISOLATION=n``),
  page_owner on, a free list capped at ``>100000``, extfrag ``%2d.%03d``, and a zone whose
  only free block is one order below a requested order, where ``__fragmentation_index``
  returns -500 and the kernel prints ``0.-500``.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


# ------------------------------------------------------------- kernel formulas, again
def contig(row, order):
    free_pages = total = suitable = 0
    for o, blocks in enumerate(row):
        total += blocks
        free_pages += blocks << o
        if o >= order:
            suitable += blocks << (o - order)
    return free_pages, total, suitable


def unusable(row, order):
    free_pages, _, suitable = contig(row, order)
    if free_pages == 0:
        return 1000
    return (free_pages - (suitable << order)) * 1000 // free_pages


def extfrag(row, order):
    free_pages, total, suitable = contig(row, order)
    if total == 0:
        return 0
    if suitable:
        return -1000
    return 1000 - (1000 + free_pages * 1000 // (1 << order)) // total  # may be negative


def cdiv(a, b):
    q = abs(a) // b * (1 if a >= 0 else -1)
    return q, a - q * b


# ------------------------------------------------------------- print functions
def print_buddyinfo(zones):  # frag_show_print
    out = ""
    for node, name, row in zones:
        out += "Node %d, zone %8s " % (node, name)
        for c in row:
            out += "%6lu " % c
        out += "\n"
    return out


def print_debugfs(zones, fn, fmt):  # unusable_show_print / extfrag_show_print
    out = ""
    for node, name, row in zones:
        out += "Node %d, zone %8s " % (node, name)
        for order in range(len(row)):
            out += fmt % cdiv(fn(row, order), 1000)
        out += "\n"
    return out


def print_pagetypeinfo(node_blocks, pb_order, types, n_orders, free, blocks, mixed=None, capped=()):
    """pagetypeinfo_show for each node: header, showfree, showblockcount, showmixedcount."""
    out = ""
    for node in node_blocks:
        out += "Page block order: %d\n" % pb_order
        out += "Pages per block:  %lu\n" % (1 << pb_order)
        out += "\n"
        out += "%-43s " % "Free pages count per migrate type at order"
        for order in range(n_orders):
            out += "%6d " % order
        out += "\n"
        for (nd, zone), per_type in free.items():
            if nd != node:
                continue
            for t in types:
                out += "Node %4d, zone %8s, type %12s " % (nd, zone, t)
                for order, c in enumerate(per_type[t]):
                    over = (nd, zone, t, order) in capped
                    out += "%s%6lu " % (">" if over else "", c)
                out += "\n"
        out += "\n%-23s" % "Number of blocks type "
        for t in types:
            out += "%12s " % t
        out += "\n"
        for (nd, zone), counts in blocks.items():
            if nd != node:
                continue
            out += "Node %d, zone %8s " % (nd, zone)
            for c in counts:
                out += "%12lu " % c
            out += "\n"
        if mixed is not None:
            out += "\n%-23s" % "Number of mixed blocks "
            for t in types:
                out += "%12s " % t
            out += "\n"
            for (nd, zone), counts in mixed.items():
                if nd != node:
                    continue
                out += "Node %d, zone %8s " % (nd, zone)
                for c in counts:
                    out += "%12lu " % c
                out += "\n"
    return out


def split(row, types, weights):
    """Split each order's count over migratetypes (first type gets the remainder)."""
    per = {t: [] for t in types}
    for c in row:
        parts = [c * w // sum(weights) for w in weights]
        parts[0] += c - sum(parts)
        for t, p in zip(types, parts):
            per[t].append(p)
    return per


def write(era, files, meta):
    d = HERE / era
    d.mkdir(exist_ok=True)
    for name, text in files.items():
        (d / name).write_text(text)
    (d / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")


# ------------------------------------------------------------------ v3.10
def era_v310():
    types = ("Unmovable", "Reclaimable", "Movable", "Reserve", "CMA", "Isolate")
    zones = [
        (0, "DMA", [1, 1, 1, 0, 2, 1, 1, 0, 1, 1, 3]),
        (0, "DMA32", [3, 7, 12, 30, 22, 9, 4, 2, 1, 0, 0]),
        (0, "Normal", [5021, 2210, 804, 111, 40, 8, 3, 0, 0, 0, 0]),
        (1, "Normal", [120, 88, 71, 50, 31, 17, 9, 4, 2, 1, 40]),
    ]
    free = {(n, z): split(r, types, [1, 1, 6, 1, 1, 0]) for n, z, r in zones}
    blocks = {(0, "DMA"): [1, 0, 6, 1, 0, 0], (0, "DMA32"): [10, 4, 1510, 2, 0, 0],
              (0, "Normal"): [60, 30, 1900, 2, 8, 0], (1, "Normal"): [20, 12, 2010, 2, 4, 0]}
    zoneinfo = (
        "Node 0, zone      DMA\n"
        "  pages free     3977\n"
        "        min      5\n"
        "        low      6\n"
        "        high     7\n"
        "        scanned  0\n"
        "        spanned  4095\n"
        "        present  3998\n"
        "        managed  3977\n"
        "    nr_free_pages 3977\n"
        "    nr_alloc_batch 1\n"
        "    nr_inactive_anon 0\n"
        "        protection: (0, 2997, 7979, 7979)\n"
        "  pagesets\n"
        "    cpu: 0\n"
        "              count: 0\n"
        "              high:  0\n"
        "              batch: 1\n"
        "  vm stats threshold: 6\n"
        "  all_unreclaimable: 0\n"
        "  start_pfn:         1\n"
        "  inactive_ratio:    1\n"
    )
    write("v3.10-reserve-numa", {
        "buddyinfo": print_buddyinfo(zones),
        "pagetypeinfo": print_pagetypeinfo([0, 1], 9, types, 11, free, blocks),
        "extfrag_index": print_debugfs(zones, extfrag, "%d.%03d "),
        "unusable_index": print_debugfs(zones, unusable, "%d.%03d "),
        "zoneinfo": zoneinfo,
    }, {"kernel_release": "3.10.0-327.el7.x86_64", "page_size": 4096, "pageblock_order": 9})


# ------------------------------------------------------------------ v4.5
def era_v45():
    types = ("Unmovable", "Movable", "Reclaimable", "HighAtomic", "CMA", "Isolate")
    zones = [
        (0, "DMA", [0, 1, 0, 1, 2, 1, 1, 1, 1, 1, 3]),
        (0, "DMA32", [912, 431, 250, 127, 60, 41, 12, 6, 2, 0, 0]),
        (0, "Normal", [20410, 6011, 1022, 310, 22, 3, 0, 0, 0, 0, 0]),
    ]
    free = {(n, z): split(r, types, [2, 5, 2, 0, 1, 0]) for n, z, r in zones}
    blocks = {(0, "DMA"): [1, 7, 0, 0, 0, 0], (0, "DMA32"): [12, 1490, 24, 0, 2, 0],
              (0, "Normal"): [80, 3700, 140, 1, 16, 0]}
    mixed = {(0, "DMA"): [0, 0, 0, 0, 0, 0], (0, "DMA32"): [3, 41, 2, 0, 0, 0],
             (0, "Normal"): [19, 388, 31, 0, 0, 0]}
    zoneinfo = (
        "Node 0, zone      DMA\n"
        "  pages free     3905\n"
        "        min      33\n"
        "        low      41\n"
        "        high     49\n"
        "        scanned  0\n"
        "        spanned  4095\n"
        "        present  3998\n"
        "        managed  3977\n"
        "    nr_free_pages 3905\n"
        "    nr_alloc_batch 8\n"
        "    nr_inactive_anon 12\n"
        "    numa_hit     20\n"
        "        protection: (0, 2960, 15968, 15968)\n"
        "  pagesets\n"
        "    cpu: 0\n"
        "              count: 0\n"
        "              high:  0\n"
        "              batch: 1\n"
        "  vm stats threshold: 8\n"
        "    cpu: 1\n"
        "              count: 0\n"
        "              high:  0\n"
        "              batch: 1\n"
        "  vm stats threshold: 8\n"
        "  all_unreclaimable: 0\n"
        "  start_pfn:         1\n"
        "  inactive_ratio:    1\n"
        "Node 0, zone    DMA32\n"
        "  pages free     180204\n"
        "        min      7812\n"
        "        low      9765\n"
        "        high     11718\n"
        "        scanned  0\n"
        "        spanned  1044480\n"
        "        present  782298\n"
        "        managed  758021\n"
        "    nr_free_pages 180204\n"
        "        protection: (0, 0, 13008, 13008)\n"
        "  pagesets\n"
        "    cpu: 0\n"
        "              count: 31\n"
        "              high:  186\n"
        "              batch: 31\n"
        "  vm stats threshold: 40\n"
        "  all_unreclaimable: 0\n"
        "  start_pfn:         4096\n"
        "  inactive_ratio:    4\n"
    )
    write("v4.5-pageowner", {
        "buddyinfo": print_buddyinfo(zones),
        "pagetypeinfo": print_pagetypeinfo([0], 9, types, 11, free, blocks, mixed),
        "extfrag_index": print_debugfs(zones, extfrag, "%d.%03d "),
        "unusable_index": print_debugfs(zones, unusable, "%d.%03d "),
        "zoneinfo": zoneinfo,
    }, {"kernel_release": "4.5.7", "page_size": 4096, "pageblock_order": 9})


# ------------------------------------------------------------------ v6.12, 13 orders
def era_v612():
    types = ("Unmovable", "Movable", "Reclaimable", "HighAtomic")
    zones = [
        (0, "DMA", [240000, 30, 9, 4, 2, 1, 0, 0, 0, 0, 0, 0, 2]),
        (0, "Normal", [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]),
        (0, "Movable", [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    ]
    free = {(n, z): split(r, types, [1, 4, 1, 0]) for n, z, r in zones}
    # the kernel stops counting a free list at 100000 and prints ">100000"
    free[(0, "DMA")]["Movable"][0] = 100000
    capped = {(0, "DMA", "Movable", 0)}
    blocks = {(0, "DMA"): [2, 60, 1, 0], (0, "Normal"): [1, 0, 0, 0], (0, "Movable"): [0, 1, 0, 0]}
    mixed = {(0, "DMA"): [1, 9, 0, 0], (0, "Normal"): [0, 0, 0, 0], (0, "Movable"): [0, 0, 0, 0]}
    zoneinfo = (
        "Node 0, zone      DMA\n"
        "  per-node stats\n"
        "      nr_inactive_anon 120\n"
        "      nr_active_anon 3\n"
        "      nr_anon_transparent_hugepages 0\n"
        "  pages free     240254\n"
        "        boost    0\n"
        "        min      1024\n"
        "        low      1280\n"
        "        high     1536\n"
        "        promo    1792\n"
        "        spanned  524288\n"
        "        present  524288\n"
        "        managed  510000\n"
        "        cma      0\n"
        "        protection: (0, 0, 0, 0)\n"
        "      nr_free_pages 240254\n"
        "      nr_zone_inactive_anon 120\n"
        "  pagesets\n"
        "    cpu: 0\n"
        "              count:    12\n"
        "              high:     96\n"
        "              batch:    16\n"
        "              high_min: 96\n"
        "              high_max: 960\n"
        "  vm stats threshold: 32\n"
        "  node_unreclaimable:  0\n"
        "  start_pfn:           0\n"
        "Node 0, zone   Normal\n"
        "  pages free     32\n"
        "        boost    0\n"
        "        min      1\n"
        "        low      1\n"
        "        high     1\n"
        "        promo    1\n"
        "        spanned  8192\n"
        "        present  8192\n"
        "        managed  8192\n"
        "        cma      0\n"
        "        protection: (0, 0, 0, 0)\n"
        "      nr_free_pages 32\n"
        "  pagesets\n"
        "    cpu: 0\n"
        "              count:    0\n"
        "              high:     0\n"
        "              batch:    1\n"
        "              high_min: 0\n"
        "              high_max: 0\n"
        "  vm stats threshold: 2\n"
        "  node_unreclaimable:  0\n"
        "  start_pfn:           524288\n"
        "Node 0, zone  Movable\n"
        "  pages free     0\n"
        "        boost    0\n"
        "        min      0\n"
        "        low      0\n"
        "        high     0\n"
        "        promo    0\n"
        "        spanned  8192\n"
        "        present  8192\n"
        "        managed  8192\n"
        "        cma      0\n"
        "        protection: (0, 0, 0, 0)\n"
        "      nr_free_pages 0\n"
        "  pagesets\n"
        "    cpu: 0\n"
        "              count:    0\n"
        "              high:     0\n"
        "              batch:    1\n"
        "              high_min: 0\n"
        "              high_max: 0\n"
        "  vm stats threshold: 2\n"
        "  node_unreclaimable:  0\n"
        "  start_pfn:           532480\n"
        "Node 0, zone   Device\n"
        "  pages free     0\n"
        "        boost    0\n"
        "        min      0\n"
        "        low      0\n"
        "        high     0\n"
        "        promo    0\n"
        "        spanned  0\n"
        "        present  0\n"
        "        managed  0\n"
        "        cma      0\n"
        "        protection: (0, 0, 0, 0)\n"
    )
    write("v6.12-13orders", {
        "buddyinfo": print_buddyinfo(zones),
        "pagetypeinfo": print_pagetypeinfo([0], 13, types, 13, free, blocks, mixed, capped),
        "extfrag_index": print_debugfs(zones, extfrag, "%2d.%03d "),
        "unusable_index": print_debugfs(zones, unusable, "%d.%03d "),
        "zoneinfo": zoneinfo,
    }, {"kernel_release": "6.12.0-arm64-64k", "page_size": 65536, "pageblock_order": 13})


if __name__ == "__main__":
    era_v310()
    era_v45()
    era_v612()
