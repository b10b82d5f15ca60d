"""Writes the notebooks of this folder from the cells below, outputs empty.

The notebooks are generated so that they stay reviewable as text and never carry
outputs in git: edit a cell here, then run

    .venv/bin/python notebooks/build.py            # rewrite the .ipynb files
    .venv/bin/python notebooks/build.py --check    # exit 1 if a file differs from this script

``tests/test_notebooks.py`` runs the check. Each notebook runs with its own folder as the
working directory (as JupyterLab and ``mmkit report`` start it), so the bundled data is
``../data``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent


def md(text: str) -> dict:
    return {"cell_type": "markdown", "source": text.strip("\n")}


def code(text: str, *tags: str) -> dict:
    return {"cell_type": "code", "source": text.strip("\n"), "tags": list(tags)}


def lore(tag: str, msgid: str) -> str:
    return f"[{tag}](https://lore.kernel.org/r/{msgid})"


def tree(tag: str, commit: str, path: str) -> str:
    return f"[{tag}](https://github.com/torvalds/linux/blob/{commit}/{path})"


# The sources of shared/SEMANTICS.md, section 0.
V3_00 = lore("v3-00", "1459321935-3655-1-git-send-email-minchan@kernel.org")
V3_04 = lore("v3-04", "1459321935-3655-5-git-send-email-minchan@kernel.org")
R_02 = lore("R-02", "56FEE82A.30602@suse.cz")
A_02 = lore("A-02", "20160404051225.GA6838@bbox")
R_04 = lore("R-04", "5703A979.402@suse.cz")
A_04 = lore("A-04", "20160411042933.GB4804@bbox")
V4_02 = lore("v4-02", "1461743305-19970-3-git-send-email-minchan@kernel.org")
K_BDA = tree("K-bda", "bda807d4445414e8e77da704f116bb0880fe0c76", "include/linux/page-flags.h")
K_B11 = tree("K-b11", "b1123ea6d3b3da25af5c8a9d843bd07ab63213f4", "mm/migrate.c")
K_D6D = tree("K-d6d", "d6d86c0a7f8ddc5b38cf089222cb1d9540762dc2", "include/linux/balloon_compaction.h")
D_2019 = lore("D-2019", "20190129233217.10747-1-david@redhat.com")
U_2019 = lore("U-2019", "20190610112112.GE55602@google.com")
O_2018 = lore("O-2018", "20181119101616.8901-3-david@redhat.com")
K_MOD = tree("K-mod", "0003e2a414687fff6a75250d381e4abf345d663f", "mm/migrate.c")
K_PF25 = tree("K-pf25", "3d388584d59985e95f5bfb9dbd9776fa1bb1ec8a", "include/linux/page-flags.h")
ZS_V7 = lore("zsmalloc v7 11/12", "1464736881-24886-12-git-send-email-minchan@kernel.org")


# Text that states what a run shows for a reason outside the review: kept here, in one
# place, so that it is updated with the model.
CMA_NOTE = """\
`cma_alloc_success` is 0 and `cma_alloc_fail` 10 in every variant but v6.18 in this run,
and nearly so in each of seeds 1-40 (5 of 396 allocations succeed under v4.5, 2 of 399
under v3-04, none of 400 under v3-02, v3-04-reviewed and v4.8). `cma_alloc()` tries the
area's positions in turn, the next after each -EBUSY (`cma_alloc_busy_retry` counts
them, as the kernel's trace event of that name does), and here every one of the ten
positions of four pageblocks fails: each holds, when the allocation comes, an anonymous
page with an extra reference (a long-term GUP pin: `migrate_pages()` gives up on it after
its passes) or a THP (`isolate_migratepages_block()` of v4.x skips compound pages), and
`alloc_contig_range()` returns -EBUSY after migrating what it could. So each failed
allocation has moved pages out of most of the area for no range: a median of 18,000 to
25,000 pages a run under these five (`cma_migrated`). Later kernels move a page out of
CMA when a long-term pin is taken (v5.1) and migrate THPs out of a range (v5.7), and
v6.18 here does both: none of its 10 allocations succeeds in this run, 72 of 339 over
the 40 seeds. The rest fail on the pins the machine held before tick 0 (every variant
starts from the same machine, filled without any era's pin rule). The allocations still do their work page by
page, and point 3 is read from that: the pages each one skipped, dropped and migrated."""

# Measured over seeds 1-40 of review-04 on 512 MiB (`mmkit.compare` per seed, final
# values; notebook 05 runs the same sweep): update with the model.
# `.venv/bin/python verification/review04_figures.py` prints these figures and those of
# seed 1 the notes under the tables state.
SEEDS_NOTE = """\
Over 40 seeds of the same workload the picture changes. THP success, pooled over all
faults, is 48% under v4.5, 37-38% under v3-02 and v3-04, 52% under v3-04-reviewed and
v4.8, and 81% under v6.18; one seed's share ranges from 16-29% to 52-88% under each of
the first five (71-95% under v6.18), and seed 1 is v4.5's 17th of the 40. Order-3
(fork-sized) allocations succeed in every attempt of almost every seed under every
variant (the lowest: a seed of v4.8's, at 90%). The series changes the mixed movable
pageblocks: a median of 39 under v4.5 against 19-36 once zsmalloc pages can move (11
under v6.18). Deflate races hit about 2% of balloon migrations in every variant, so the
misrouted putbacks of v4.5, v3-04 and v3-04-reviewed have medians of the same size
(49.5, 40.5 and 47). `05-sweeps.ipynb` runs
this workload over those 40 seeds and draws the faults' distributions, and the series'
benefit (order-2, order-3 and THP success) on `zram-pressure`."""


# ---------------------------------------------------------------------------- 01
def quickstart() -> list[dict]:
    return [
        md("""
# Quickstart: from `import mmkit` to a comparison chart

This notebook runs one workload on a simulated 512 MiB machine under four versions of the
Linux kernel's page-migration rules, side by side, and draws what each did: fragmentation
over time, and the faults (pages sent down a path meant for another kind of page). Then it
looks at single pages, builds a variant of the rules that no kernel ever had, and opens the
Explorer, which does all of this with controls. Everything is seeded, so every run prints
the same numbers. It runs in well under a minute once numba's cache is warm.
"""),
        code("""
import polars as pl

import mmkit
import mmkit.viz as viz

pl.Config(tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True)
mmkit.variants().select("name", "description")
"""),
        md("""
## Variants and workloads

A *variant* is one kernel version's rules as a value: each column of `mmkit.variants()` is
one rule that changed between versions (how `PageMovable` is tested, which bit `PG_isolated`
uses, where a page goes after migration, ...), named after the kernel code it stands for.
A *workload* is a seeded recipe of allocations and frees.
"""),
        code("""
from mmkit.workloads import PRESETS

pl.DataFrame([{"workload": w.name, "GiB": w.gib, "ticks": w.ticks, "what it does": w.description}
              for w in PRESETS.values()])
"""),
        md("""
## One comparison

`mmkit.compare` starts every variant from the same memory and seed and runs the workload
under each. `review-04` puts zram, a virtio balloon, a CMA area and ext4 `data=journal`
page-cache pages on one machine: everything the review of patch 04 is about.
"""),
        code("""
res = mmkit.compare(workload="review-04", variants=["v4.5", "v3-02", "v3-04", "v4.8"], gib=0.5, seed=1)
res
"""),
        md("""
The before/after table, as [mmtests](https://github.com/gormanm/mmtests) prints one: each
variant's final value and its change against the first column. Green is better, red worse,
where "better" has a direction.
"""),
        code("""
viz.compare_table(res)
"""),
        md("""
## Fragmentation over time

The unusable free space index is what `/sys/kernel/debug/extfrag/unusable_index` prints:
the share of free memory that sits in blocks too small for an allocation of the given
order (here 9: a 2 MiB transparent huge page). mmkit computes it with the kernel's own
integer formula.
"""),
        code("""
viz.fragmentation(res, order=9)
"""),
        md("""
## Faults

A fault is a place where a kernel predicate's answer and the page's real owner disagree,
or where a page reaches a path meant for another kind of page. mmkit knows the real owner
of every page, so faults are counted, not guessed. The tooltip names the rule that decided.
"""),
        code("""
viz.misrouted(res)
"""),
        md("""
## Page by page

`res.events` logs every fault with its tick, page frame number, the real kind of the page,
and the rule that fired. For example, where v3-02 sent migrated pages:
"""),
        code("""
ev = res.events.filter(pl.col("event") == "misrouted_putback")
ev.group_by("variant", "kind", "rule").len().sort("variant", "kind")
"""),
        code("""
ev.filter((pl.col("variant") == "v3-02") & (pl.col("kind") == "zsmalloc")).head(5)
"""),
        md("""
## The memory at the end

One cell per pageblock (2 MiB), coloured by the kind of page that fills most of it; cells
where a fault happened are marked.
"""),
        code("""
viz.memory_map(res, variant=["v3-02", "v4.8"])
"""),
        md("""
## A variant of your own

`Variant.replace` changes one rule. Here, v3-04 with `PG_isolated` moved to a bit of its
own (what the review asked for), on the `cma` workload, whose page cache is full of
`PG_checked` pages (ext4 `data=journal`):
"""),
        code("""
from mmkit.semantics import IsolatedBit

own_bit = mmkit.variant("v3-04").replace(name="v3-04, own PG_isolated bit", pg_isolated=IsolatedBit.OWN_BIT)
cma = mmkit.compare(workload="cma", variants=["v3-04", own_bit], gib=0.5, seed=1, ticks=100)
cma.table(["cma_skip_false_positive", "cma_reclaimed", "cma_migrated", "cma_alloc_success", "cma_alloc_fail"])
"""),
        md("""
A combination no kernel can have is refused, with the reason:
"""),
        code("""
try:
    mmkit.variant("v3-04").replace(pg_isolated=IsolatedBit.PG_RECLAIM)
except mmkit.VariantError as e:
    print(e)
"""),
        md("""
## The Explorer

The same, with controls built from the workload's own parameter table: pick a workload,
variants, size and seed, press *Run*, and the charts above are drawn for that run.
`Explorer.export(path)` writes what it shows to a self-contained HTML file.
"""),
        code("""
from mmkit.widgets import Explorer

explorer = Explorer(workload="review-04", gib=0.5, seed=1)
explorer.run()  # what the Run button does
explorer
"""),
        md("""
## Next

* `02-the-review.ipynb`: the review of v3 04/16, point by point.
* `03-why-the-series.ipynb`: what the series is for, over several seeds.
* `04-your-machine.ipynb`: a real machine's memory, read from `/proc`, and compacted.
* `res.save("out/review")` writes a result (parquet, JSON, npz); `mmkit.load_result` reads it back.
"""),
    ]


# ---------------------------------------------------------------------------- 02
def the_review() -> list[dict]:
    return [
        md(f"""
# The review of v3 04/16, executable

In April 2016 Vlastimil Babka reviewed patch 04 of Minchan Kim's series *Support non-lru
page migration* ({V3_00}), `mm/balloon: use general movable page feature into balloon`
({V3_04}). His review ({R_04}) made three points: the new `PageBalloon()` makes
`/proc/kpageflags` call other drivers' pages balloon pages; until this patch, every
migrated non-LRU page that is not a balloon page was put back on an LRU list; and
`PG_isolated` shares its bit with `PG_checked`, so contiguous allocations skip clean
page-cache pages they could have dropped. This notebook shows each point: the kernel code
it is about (paraphrased), a simulation in which it happens, the fault counts and charts,
and what the merged series (v4.8) and today's kernel (v6.18) do instead. It runs on a
simulated 512 MiB machine and on the bundled snapshot of a real one (`../data/fragmented`),
all seeded: every run gives the same numbers. It runs in under a minute with a warm
numba cache.
"""),
        code("""
import numpy as np
import polars as pl

import mmkit
import mmkit.snapshot
import mmkit.viz as viz
from mmkit import PageKind
from mmkit.engine.sim import Sim
from mmkit.engine.state import EVENT_NAMES
from mmkit.model.kpf import KPF_BALLOON, KPF_OWNER_PRIVATE, KPF_PRIVATE_2, KPF_RECLAIM
from mmkit.result import Table

pl.Config(tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True, tbl_rows=40)
VARIANTS = list(mmkit.NAMED)  # v4.5, v3-02, v3-04, v3-04-reviewed, v4.8, v6.18
"""),
        md(f"""
## The patch

Patch 02 of the series ({R_02} quotes it) lets any driver make its pages movable without
being on an LRU list: such a page carries `PG_movable` (an alias of `PG_reclaim`) and a
sentinel in `_mapcount`, and while migration holds it, `PG_isolated` (an alias of
`PG_owner_priv_1`) is set. The balloon driver kept its own protocol from v3.19
({K_D6D}): `_mapcount == PAGE_BALLOON_MAPCOUNT_VALUE` and `PagePrivate`. Patch 04 moves the
balloon onto the generic feature:

* balloon pages are marked with the generic `__SetPageMovable`, and the balloon's
  `_mapcount` value becomes the movable one (-256);
* `PageBalloon()` becomes "movable and `PG_private_2`";
* after migration, the new page is routed by `PageMovable(newpage)` instead of the balloon test;
* `reclaim_clean_pages_from_list()` skips `PageIsolated` pages instead of isolated balloon pages.

mmkit has each of these as a rule of a variant. `v3-02` is the series with 01-02 applied
and a driver other than the balloon using it (zsmalloc, whose migration comes later in the
series): the window a bisection can land in. `v3-04` is exactly the reviewed code;
`v3-04-reviewed` adds the review's fixes; `v4.8` is the series as merged, `v6.18` today's kernel.
"""),
        code("""
rules = ["name", "movable_marker", "page_balloon", "pg_isolated", "newpage_route", "cma_clean_rule"]
mmkit.variants().select(rules)
"""),
        md("""
## One machine, six kernels

The `review-04` workload puts everything the review is about on one 512 MiB machine for
200 ticks: anonymous memory swapped into zram (zsmalloc pages, which the series makes
movable), a virtio balloon inflating and deflating, a CMA area with a contiguous
allocation every 20 ticks, ext4 `data=journal` page cache (30% of file pages carry
`PG_checked`), THP faults and order-2/3 kernel allocations that make compaction run.
Every variant starts from the same memory and the same seed. `log_traffic=True` also logs
every migration, page by page.
"""),
        code("""
res = mmkit.compare(workload="review-04", variants=VARIANTS, gib=0.5, seed=1, log_traffic=True)
viz.compare_table(res, counters=["kpf_balloon_misreport", "misrouted_putback", "lru_corruption", "objects_lost",
                                 "cma_skip_false_positive", "list_corruption", "deflate_race", "balloon_migrate",
                                 "pgmigrate_success", "mixed_movable_blocks", "order3_success", "thp_success",
                                 "cma_alloc_success"])
"""),
        md(f"""
### Reading this table: one run, one seed

The fault rows are the review's points, counted page by page; the sections below take them
one at a time. Three rows say less than they seem to:

* **Misrouted putbacks under v4.5, v3-04 and v3-04-reviewed** are deflate races: the
  rows `misrouted_putback` and `deflate_race` are equal for them (25, 32 and 33), and 19
  of v3-02's 298 are too (the other 279 are zsmalloc pages, point 2). A balloon deflate
  lands between `unlock_page(newpage)` and the test of the new page, a bug from v3.12 to
  v4.7 that the series did not add ({D_2019}). The more balloon pages a run migrates
  (`balloon_migrate`), the more deflates land there: v3-02 migrated the fewest in this
  run (1,305) and met 19, v6.18 the most (5,426) and met 112; v4.8 and v6.18 survive
  them.
* **THP success** is the share of 19 to 24 faults, so one fault moves it by about five
  points, and which variant finds a free 2 MiB block at the moment of a fault depends on
  where its frees happened to fall once the runs have diverged. Direct compaction
  succeeded 0 to 6 times in a run (`compact_success` below, order-3 and THP requests
  together). The counts:
"""),
        code("""
res.table(["thp_fault_alloc", "thp_fault_fallback", "compact_success", "balloon_migrate", "deflate_race"], changes=False)
"""),
        md(f"""
{SEEDS_NOTE}

{CMA_NOTE}
"""),
        md(f"""
## Point 1: `PageBalloon()` and `/proc/kpageflags`

```c
/* before: include/linux/balloon_compaction.h (v3.19 to v4.5) */
PageBalloon(page)  :=  page->_mapcount == PAGE_BALLOON_MAPCOUNT_VALUE    /* -256 */

/* v3 04/16: -256 is now the value of every non-LRU movable page, so */
PageBalloon(page)  :=  PageMovable(page) && PagePrivate2(page)

/* fs/proc/page.c, stable_page_flags(): the only caller of PageBalloon() */
if (PageBalloon(page))
        u |= 1 << KPF_BALLOON;
```

The review noted that `stable_page_flags()` is `PageBalloon()`'s only caller, and that the
new test reads `PG_private_2` on any movable page, not only the balloon's ({R_04}). Which
pages that hits is mmkit's deduction: zsmalloc marks the *last* sub-page of each zspage
with `PG_private_2` (its 2016 header comment), so once zsmalloc pages are movable, those
pages read as balloon pages to `page-types` and anything else that counts `KPF_BALLOON`.
No memory is harmed; the report is wrong.

A small machine makes it exact: 64 MiB with anonymous and page-cache pages, a balloon of
300 pages and zram holding 2000 objects. `Sim.kpageflags()` is `/proc/kpageflags` as each
variant's kernel would print it.
"""),
        code("""
def small_machine(variant, seed=1):
    \"\"\"64 MiB: anonymous and page-cache pages, a balloon of 300 pages, zram with 2000 objects.\"\"\"
    s = Sim(mmkit.Memory.synthetic(mib=64, variant=variant), seed=seed)
    anon = s.anon(3000)
    s.file(2000)
    s.balloon_inflate(300)
    s.zram_store(2000)
    s.free(anon[::2])  # holes everywhere: compaction has work to do
    return s


rows = []
for v in VARIANTS:
    s = small_machine(v)
    says_balloon = (s.kpageflags() >> KPF_BALLOON) & 1 == 1
    kind = s.mem.kind
    rows.append({"variant": v,
                 "balloon pages": int((kind == PageKind.BALLOON).sum()),
                 "KPF_BALLOON set": int(says_balloon.sum()),
                 "... on zsmalloc pages": int((says_balloon & (kind == PageKind.ZSMALLOC)).sum()),
                 "zsmalloc pages": int((kind == PageKind.ZSMALLOC).sum())})
Table(pl.DataFrame(rows))
"""),
        md("""
Only v3-04 reports more balloon pages than the balloon has: every page it adds is a
zsmalloc page. On the larger run the misreport is a state, not an event: the chart shows
how many pages read wrongly at each tick, coloured by their real owner (the panels of the
other variants stay at zero).
"""),
        code("""
viz.misrouted(res, faults=["kpf_balloon_misreport"])
"""),
        md(f"""
## Point 2: where a migrated page goes, between patches 02 and 04

```c
/* mm/migrate.c, unmap_and_move(), v4.5 and still after v3 02/16:
 * the migration succeeded and newpage has been unlocked */
if (unlikely(__is_movable_balloon_page(newpage)))
        put_page(newpage);              /* the balloon owns it: drop our reference */
else
        putback_lru_page(newpage);      /* anything else goes onto an LRU list */

/* v3 04/16 */
if (PageMovable(newpage))
        put_page(newpage);
else
        putback_lru_page(newpage);
```

Patch 02 made pages of any driver migratable but left this test alone; patch 04 changes it.
In between, every migrated non-LRU page that is not a balloon page goes to
`putback_lru_page()`: it gets `PG_lru` and its `page->lru` is threaded onto an LRU list while
its driver still owns it (LRU list corruption), and reclaim later frees it as if it were
clean page cache, with the driver's data in it (for zsmalloc: compressed pages lost).
A kernel bisected to patch 02 or 03 with such a driver, zsmalloc's migration (patches 13-15)
or one out of tree, has this bug ({R_04}).

In the run above, v3-02 put every migrated zsmalloc page onto an LRU list, and no other
variant put any there:
"""),
        code("""
ev = res.events.filter(pl.col("kind") == "zsmalloc")


def pages(variant, event):
    return ev.filter((pl.col("variant") == variant) & (pl.col("event") == event)).height


Table(pl.DataFrame([{"variant": v,
                     "zsmalloc pages migrated": pages(v, "migrated"),
                     "then sent to putback_lru_page": pages(v, "misrouted_putback"),
                     "on an LRU list, owned by zsmalloc": pages(v, "lru_corruption")} for v in VARIANTS]))
"""),
        md("""
v4.5 migrates no zsmalloc page at all: before the series zsmalloc pages cannot move. Over
time, with the rule that decided in each tooltip:
"""),
        code("""
viz.misrouted(res, faults=["misrouted_putback", "lru_corruption"])
"""),
        md("""
What happens to those pages next is up to reclaim: it finds them at the tail of an LRU
list, sees clean pages that are not swap-backed, and frees them. On the small machine,
after `compact_memory` and one hard reclaim (the event's `extra` is the number of
compressed pages that were in the freed page):
"""),
        code("""
rows = []
for v in ["v3-02", "v3-04", "v4.8"]:
    s = small_machine(v)
    s.compact_memory()
    misrouted = s.count("misrouted_putback")
    s.reclaim(target_free=s.mem.nr_pages)  # reclaim hard: the LRU tails hold the misrouted pages
    lost = s.events()
    lost = lost[lost[:, 2] == EVENT_NAMES.index("objects_lost")]  # rows: tick, pfn, event, kind, rule, extra
    rows.append({"variant": v, "zsmalloc pages misrouted": misrouted,
                 "freed by reclaim while zsmalloc used them": len(lost),
                 "compressed pages lost": int(lost[:, 5].sum())})
Table(pl.DataFrame(rows))
"""),
        md("""
Where the misrouted pages are, in v3-02's memory against v3-04's at the end of the long
run (marked cells had a fault):
"""),
        code("""
viz.memory_map(res, variant=["v3-02", "v3-04"])
"""),
        md("""
v3-02 can also lose zsmalloc data by a second path, which is mmkit's deduction rather than
the review's: it still tests `!PageBalloon(page)` in `reclaim_clean_pages_from_list()`, and
a zsmalloc page in a CMA range is clean and not swap-backed, so it is handed to reclaim
(`nonlru_to_reclaim`) and freed with its objects in it. What that did in the long run
(`extra` is the number of objects in each freed page):
"""),
        code("""
lost = res.events.filter(pl.col("event").is_in(["nonlru_to_reclaim", "objects_lost"]))
Table(lost.group_by("variant", "event", "rule").agg(pages=pl.len(), objects=pl.col("extra").sum())
      .sort("variant", "event"))
"""),
        md(f"""
## Point 3: `PG_isolated` is `PG_checked`

```c
/* include/linux/page-flags.h, v3 of the series */
PG_isolated = PG_owner_priv_1,  /* which is also PG_checked (filesystems; ext4 data=journal),
                                   PG_pinned and PG_foreign (Xen) */

/* mm/vmscan.c, reclaim_clean_pages_from_list(), called by alloc_contig_range() (CMA):
 * clean page-cache pages in the range are dropped instead of migrated */
v4.5:     if (page_is_file_cache(page) && !PageDirty(page) && !isolated_balloon_page(page))
v3 04/16: if (page_is_file_cache(page) && !PageDirty(page) && !PageIsolated(page))
```

`PageIsolated()` reads `PG_owner_priv_1`, which a filesystem sets on its own pages: ext4 in
`data=journal` mode sets `PG_checked` on page-cache pages it has journalled. Each such
clean page now looks isolated, so a contiguous allocation migrates it instead of dropping
it: more work, and more chances for the allocation to fail. No corruption ({R_04}).

Exact, on a small machine: 600 clean `PG_checked` pages, 300 dirty ones and 600 plain
page-cache pages, then `alloc_contig_range()` over eight pageblocks where the checked
pages are:
"""),
        code("""
def contiguous_range_over_checked_pages(variant):
    s = Sim(mmkit.Memory.synthetic(mib=64, variant=variant), seed=2)
    s.anon(500)
    checked = s.file(600, checked=True)  # clean, PG_checked
    s.file(300, checked=True, dirty=True)
    s.file(600)
    start = min(int(np.median(checked)) // 512 * 512, int(s.mem.zone_end[-1]) - 8 * 512)
    end = start + 8 * 512
    clean_checked = int(((checked >= start) & (checked < end)).sum())
    out = s.alloc_contig_range(start, end)
    return {"variant": variant, "clean PG_checked pages in the range": clean_checked,
            "skipped as isolated": out["skipped_clean"], "dropped": out["reclaimed"],
            "migrated": out["migrated"], "allocation succeeded": bool(out["ok"])}


Table(pl.DataFrame([contiguous_range_over_checked_pages(v) for v in VARIANTS]))
"""),
        md("""
v3-04 skips exactly the clean `PG_checked` pages in the range, and no other variant skips
any. In the long run v3-04 drops about two thirds as many clean pages at the contiguous
allocations as v3-04-reviewed, which has the review's fix (2,950 against 4,666), and
migrates more (24,574 against 21,398): the 3,374 times it skipped a page, the page stayed
on the migration list, to be copied instead of dropped:
"""),
        code("""
res.table(["cma_skip_false_positive", "cma_reclaimed", "cma_migrated", "cma_alloc_success", "cma_alloc_fail"],
          changes=False)
"""),
        md(CMA_NOTE),
        code("""
viz.misrouted(res, faults=["cma_skip_false_positive"])
"""),
        md(f"""
## What the merged series and today's kernel do instead

Minchan answered the review ({A_04}) and reworked the series; v4 ({V4_02}) and the merged
code in v4.8 ({K_BDA}, {K_B11}) no longer use flag aliases to say "movable":

```c
/* v4.8, include/linux/page-flags.h: movability is a bit of page->mapping */
#define PAGE_MAPPING_MOVABLE    0x2
__PageMovable(page)  :=  ((unsigned long)page->mapping & PAGE_MAPPING_FLAGS) == PAGE_MAPPING_MOVABLE
PG_isolated = PG_reclaim        /* set by the VM once the driver's isolate_page() agreed */
PageBalloon(page)  :=  page->_mapcount == PAGE_BALLOON_MAPCOUNT_VALUE   /* as before the series */

/* v4.8, mm/migrate.c, unmap_and_move() */
if (unlikely(__PageMovable(newpage))) put_page(newpage); else putback_lru_page(newpage);

/* v4.8, mm/vmscan.c, reclaim_clean_pages_from_list() */
if (page_is_file_cache(page) && !PageDirty(page) && !__PageMovable(page))
```

Today's kernel ({K_MOD}, {K_PF25}) marks balloon and zsmalloc pages with page types
(`PGTY_offline`, `PGTY_zsmalloc`) and the flag `PG_movable_ops`; `/proc/kpageflags` bit 23 is
`KPF_OFFLINE` since v5.0 ({O_2018}); migration routes the new page by whether the *source*
page was on an LRU, decided before migrating; and `reclaim_clean_pages_from_list()` skips
movable_ops pages first, then drops clean, evictable page cache ({U_2019}).

The fault totals of the whole run, by variant (`deflate_race` counts a balloon deflate
landing between unlock and the new page's test, which is harmless where the test cannot be
fooled; {D_2019} fixed the v4.5-era version of it in 2019):
"""),
        code("""
totals = (res.faults.group_by("variant", "fault", maintain_order=True).agg(pl.col("count").sum())
          .pivot(on="variant", index="fault", values="count"))
Table(totals.filter(pl.sum_horizontal(pl.exclude("fault")) > 0))
"""),
        md(f"""
v4.8 and v6.18 have no fault in this run. The one row they share with others is
`deflate_race`: the deflate lands in the window, and they survive it (v4.8 met 33 in this
run, v6.18 112; over 40 seeds each meets them as often as the others do, about 2% of its
balloon migrations). The review's fixes on v3 (`v3-04-reviewed`) remove points 1 and 3, but
the new page is still tested after it is unlocked, so each such deflate still sends a page
that has just left the balloon to `putback_lru_page()`, as in v4.5 ({D_2019}: list
corruption, stable kernels 3.12 to 4.7); it met 33 in this run, a median of 47 over the
40 seeds.
v4.8 closed that window by keeping `PAGE_MAPPING_MOVABLE` set in `__ClearPageMovable()`;
v6.18 decides the route from the source page before migrating.

## The series' benefit, in the same run

All of this was worth fixing because the series does what it promised ({V3_00}): zsmalloc
pages scattered through movable pageblocks can now be moved, so compaction can empty
those blocks. The same run, fragmentation at order 9 (`03-why-the-series.ipynb` looks at
it over several seeds):
"""),
        code("""
viz.fragmentation(res, order=9)
"""),
        md("""
v4.8's lines and v3-04-reviewed's are one, tick for tick: with the review's fixes, v3
places and moves pages as v4.8 does, and the two differ only in what a deflate race does
to the page it catches. (In other runs they can part where v4.8's free scanner stops at
the first free page its watermark test refuses, `free_isolate_fail_break`, 66c64223ad4e,
v4.8, and v3's steps over it.) The strip under the indices marks the ticks at
which a free 2 MiB block existed, where the kernel's fragmentation index is -1 (an
allocation of that order would succeed) rather than a value between 0 and 1. The series' benefit shows in fewer mixed movable
pageblocks (67 under v4.5, 12-25 under the series); order-3 allocations succeed under every
variant, and THP success in one run does not show it (see the note under the first table):
"""),
        code("""
res.table(["mixed_movable_blocks", "unusable_9", "free_o9", "thp_success", "order3_success", "pgmigrate_success"],
          changes=False)
"""),
        md("""
## On a real machine

The bundled snapshot `../data/fragmented` is `/proc/kpageflags` and the buddy allocator's
state of a real 24 GiB virtual machine running Linux 6.18 (`../data/README.md` says how it
was made). The flags the review is about can be read there as on any machine: bit 23
(`KPF_BALLOON`, `KPF_OFFLINE` since v5.0), `KPF_RECLAIM` (`PG_movable` in v3),
`KPF_PRIVATE_2` and `KPF_OWNER_PRIVATE` (`PG_owner_priv_1`: `PG_isolated` in v3).
"""),
        code("""
snap = mmkit.snapshot.load("../data/fragmented")
kp = snap.kpageflags
bits = {"KPF_BALLOON / KPF_OFFLINE (23)": KPF_BALLOON, "KPF_RECLAIM (9)": KPF_RECLAIM,
        "KPF_PRIVATE_2 (36)": KPF_PRIVATE_2, "KPF_OWNER_PRIVATE (37)": KPF_OWNER_PRIVATE}
print(f"Linux {snap.kernel_release}, {snap.nr_pfns:,} page frames")
Table(pl.DataFrame({"flag": list(bits),
                    "pages": [int(((kp >> np.uint64(b)) & np.uint64(1)).sum()) for b in bits.values()]}))
"""),
        md(f"""
This machine has no balloon, no zram and ext4 in its default `data=ordered` mode: none of
the pages the review worried about exists on it (the few `KPF_RECLAIM` pages are pages
under writeback for reclaim, which v3 would not have read as movable: the `_mapcount`
sentinel rules them out, {A_02}), and a v3-04 kernel would have run it
without a visible fault. The faults need the pages a guest with a virtio balloon, zram and
`data=journal` has, which is why `review-04` puts them all on one machine.
`04-your-machine.ipynb` does more with this snapshot, or with a capture of your own.

## Sources

| tag | what |
|---|---|
| {V3_00} | `[PATCH v3 00/16] Support non-lru page migration`, 2016-03-30 |
| {V3_04} | `[PATCH v3 04/16] mm/balloon: use general movable page feature into balloon` |
| {R_02} | Babka's review of v3 02/16 |
| {A_02} | Minchan's answer to R-02 |
| {R_04} | Babka's review of v3 04/16 |
| {A_04} | Minchan's answer to R-04 |
| {V4_02} | `[PATCH v4 02/12] mm: migrate: support non-lru movable page migration` |
| {K_BDA} | mainline `mm: migrate: support non-lru movable page migration` (v4.8-rc1) |
| {K_B11} | mainline `mm: balloon: use general non-lru movable page feature` (v4.8-rc1) |
| {K_D6D} | `redesign ballooned pages management` (v3.19): the PagePrivate balloon protocol |
| {D_2019} | Hildenbrand, `mm: migrate: don't rely on __PageMovable() of newpage after unlocking it` |
| {U_2019} | `mm: fix trying to reclaim unevictable LRU page` |
| {O_2018} | `mm: convert PG_balloon to PG_offline` |
| {K_MOD} | today's migration and compaction (folios, movable_ops) |
| {K_PF25} | mid-2025 page flags (`PG_movable_ops`, one-byte page types) |
| {ZS_V7} | zsmalloc migration as merged for v4.8 (huge-object pages marked with `PG_owner_priv_1`) |

mmkit's model of each rule, and what it simplifies, is in `docs/modelling.md`; the
exact expectations of each point are tests in `tests/test_review.py`.
"""),
    ]


# ---------------------------------------------------------------------------- 03
def why_the_series() -> list[dict]:
    return [
        md(f"""
# Why the series: movable zram pages

Before the series, zram's zsmalloc pages could not be migrated. Under memory pressure they
land in movable pageblocks and stay there, so compaction cannot empty those blocks: more
*mixed* pageblocks, fewer free high-order blocks for fork's order-2/3 allocations, for
transparent huge pages and for CMA ({V3_00}). This notebook runs the `zram-pressure`
workload under v4.5 (before) and v4.8 (merged) on a 512 MiB machine over eight seeds and
compares mixed movable pageblocks, the fragmentation indices and the success of order-2,
order-3 and THP allocations. One seed is an anecdote: the spread across seeds is the
point. It runs in about a minute with a warm numba cache.
"""),
        code("""
import altair as alt
import polars as pl

import mmkit
import mmkit.viz as viz

from mmkit.result import Table

pl.Config(tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True)
SEEDS = [1, 2, 3, 4, 5, 6, 7, 8]
VARIANTS = ["v4.5", "v4.8"]
"""),
        md("""
`zram-pressure` wants 1.6 times the machine's memory, swaps anonymous pages into zram
(zsmalloc grows and shrinks), churns slab and page tables, and asks for order-2/3 and THP
allocations: 300 ticks of it (the preset's length) per seed; every variant of a seed starts
from the same memory.
"""),
        code("""
runs = {seed: mmkit.compare(workload="zram-pressure", variants=VARIANTS, gib=0.5, seed=seed)
        for seed in SEEDS}
final = pl.concat([r.final().with_columns(seed=pl.lit(seed)) for seed, r in runs.items()])
summary = final.select(
    "seed", "variant",
    (pl.col("mixed_movable_blocks") / pl.col("movable_blocks")).alias("mixed movable share"),
    "mixed_movable_blocks", "movable_blocks", "zsmalloc_pages",
    "unusable_3", "unusable_9", "order2_success", "order3_success", "thp_success", "pgmigrate_success",
)
Table(summary)  # shown with shares as percents, indices with three decimals
"""),
        md("""
Every run also measures contiguity beyond the buddy allocator's largest order at nine
ticks (`Result.contiguity`): the 2 MiB ranges every frame of which is free or movable, so
that `alloc_contig_range()` could free them, and the share of 2 MiB blocks touched by a
page that cannot move. With zsmalloc movable, fewer blocks are spoiled: at the last tick
of each of the eight seeds above, v4.8 kept 14 to 29 freeable 2 MiB ranges and v4.5 0 to 2
(measured with this model; rerun the cell below for any seed). Seed 1:
"""),
        code("""
viz.contiguity_over_time(runs[1])
"""),
        md("""
## Mixed pageblocks

A movable pageblock is *mixed* when it also holds unmovable or reclaimable pages. Under
v4.5 zsmalloc's pages are unmovable allocations that fall back into movable pageblocks; under
v4.8 they are movable, and compaction moves them out. One point per seed:
"""),
        code("""
def per_seed(column, title, fmt=".0%"):
    colors = alt.Scale(domain=VARIANTS, range=[viz.VARIANT_COLORS[v] for v in VARIANTS])
    base = alt.Chart(summary).encode(
        x=alt.X("variant:N", title=None, sort=VARIANTS),
        y=alt.Y(f"{column}:Q", title=title, axis=alt.Axis(format=fmt)),
        color=alt.Color("variant:N", scale=colors, legend=None))
    lines = alt.Chart(summary).mark_line(color="#bbbbbb").encode(
        x=alt.X("variant:N", sort=VARIANTS), y=f"{column}:Q", detail="seed:N")
    points = base.mark_circle(size=90, opacity=0.9).encode(tooltip=["seed:N", "variant:N", f"{column}:Q"])
    return (lines + points).properties(width=170, height=220, title=title)


per_seed("mixed movable share", "mixed movable pageblocks")
"""),
        md("""
Each measure, averaged over the seeds, and how v4.8 did against v4.5 seed by seed:
"""),
        code("""
# +1: higher is better, -1: lower is better
MEASURES = {"mixed movable share": -1, "unusable_3": -1, "unusable_9": -1,
            "order2_success": 1, "order3_success": 1, "thp_success": 1}
before = summary.filter(pl.col("variant") == "v4.5").sort("seed")
after = summary.filter(pl.col("variant") == "v4.8").sort("seed")


def by_seed(m, sign):
    d = ((after[m] - before[m]) * sign).to_numpy()
    return ", ".join(f"{n} {word}" for n, word in ((int((d > 0).sum()), "better"), (int((d == 0).sum()), "same"),
                                                   (int((d < 0).sum()), "worse")) if n)


def show(m, x):  # indices with three decimals, shares as percents
    return f"{x:.3f}" if m.startswith("unusable") else f"{x:.1%}"


pl.DataFrame([{"measure": m, "v4.5 (mean)": show(m, before[m].mean()), "v4.8 (mean)": show(m, after[m].mean()),
               "v4.8 against v4.5, seed by seed": by_seed(m, sign)} for m, sign in MEASURES.items()])
"""),
        md("""
## High-order allocations

Order-2 and order-3 success (fork's kernel stacks and other small multi-page allocations)
and THP success, per seed:
"""),
        code("""
alt.hconcat(per_seed("order2_success", "order-2 success"),
            per_seed("order3_success", "order-3 success"),
            per_seed("thp_success", "THP success"))
"""),
        md("""
How to read these: the fall in mixed pageblocks is the mechanism (zsmalloc's pages can now
leave movable pageblocks, so compaction can empty them); allocation success is what a user
feels, and it depends on more than fragmentation. Under heavy pressure many high-order
failures come from lack of free memory (compaction's watermark check skips the zone), which
no migration fixes. The table above says, seed by seed, how much of the mechanism reached
the allocations in these runs; `docs/validation.md` compares such figures with published ones.

## Over time, one seed

The unusable free space index at order 3 and at order 9 for seed 1, as debugfs
`extfrag/unusable_index` would print it at each tick:
"""),
        code("""
viz.fragmentation(runs[1], order=3)
"""),
        code("""
viz.fragmentation(runs[1], order=9)
"""),
        md("""
Where the mixed pageblocks are at the end of seed 1's run (one cell per pageblock):
"""),
        code("""
viz.memory_map(runs[1], color="mixed")
"""),
        md("""
And the free lists at the end (`/proc/buddyinfo`):
"""),
        code("""
viz.buddyinfo(runs[1])
"""),
    ]


# ---------------------------------------------------------------------------- 04
def your_machine() -> list[dict]:
    return [
        md("""
# Your machine: real memory state, read and compacted

This notebook reads a snapshot of a real machine's memory: `/proc/kpageflags` and
`/proc/kpagecount` page by page, `/proc/buddyinfo`, `pagetypeinfo`, `zoneinfo`, `vmstat`
and the debugfs fragmentation files. It prints the `page-types` summary the kernel's own tool
prints, computes the kernel's fragmentation indices and checks them against the kernel's,
draws the memory map, rebuilds the page arrays and runs what `echo 1 >
/proc/sys/vm/compact_memory` would do to that state. By default it uses the bundled
snapshot `../data/fragmented` (a deliberately fragmented 24 GiB VM running Linux 6.18), so
its output is the same everywhere; set `CAPTURE_THIS_MACHINE = True` to read the machine
you are on instead (needs root). The last section watches the machine you are on over time.
It runs in about half a minute.
"""),
        code("""
import os
import tempfile
from pathlib import Path

import polars as pl

import mmkit
import mmkit.metrics
import mmkit.snapshot
import mmkit.viz as viz

pl.Config(tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True)

CAPTURE_THIS_MACHINE = False  # True: capture this machine (root, /proc/kpageflags readable)
can_capture = os.geteuid() == 0 and os.access("/proc/kpageflags", os.R_OK)

if CAPTURE_THIS_MACHINE and can_capture:
    snap = mmkit.snapshot.capture(Path(tempfile.mkdtemp()) / "this-machine")
else:
    snap = mmkit.snapshot.load("../data/fragmented")
print(f"{snap.path}: Linux {snap.kernel_release}, {snap.nr_pfns:,} page frames "
      f"({snap.nr_pfns * snap.page_size / 2**30:.1f} GiB), zones {', '.join(snap.zone_names)}; "
      f"this machine {'can' if can_capture else 'cannot'} be captured from here")
"""),
        md("""
## What the pages are: `page-types`

`mmkit.snapshot.page_types` is the summary of the kernel's `tools/mm/page-types -F`: each
distinct combination of `/proc/kpageflags` bits and how many pages have it. The largest:
"""),
        code("""
types = mmkit.snapshot.page_types(snap)
types.sort("page_count", descending=True).select("page_count", "MB", "long_symbolic_flags").head(15)
"""),
        md("""
The text is the tool's, byte for byte; the bundled snapshot keeps the real tool's output
to check against:
"""),
        code("""
text = mmkit.snapshot.page_types_text(snap)
print("".join(text.splitlines(keepends=True)[:8]) + "...")
kept = Path(snap.path) / "page-types.txt"
if kept.is_file():
    print("identical to the kernel tool's output:", text == kept.read_text())
"""),
        md("""
## Fragmentation, as the kernel computes it

From the free lists (`/proc/buddyinfo`), with the kernel's integer formulas
(`mm/vmstat.c`: `unusable_free_index`, `__fragmentation_index`), printed as debugfs prints
them. `mmkit.metrics.check` compares the result with the snapshot's own debugfs files,
byte for byte.
"""),
        code("""
print(mmkit.metrics.debugfs_text(snap, "unusable_index"))
print(mmkit.metrics.debugfs_text(snap, "extfrag_index"))
print("identical to the kernel's files:", ", ".join(mmkit.metrics.check(snap)))
"""),
        code("""
mmkit.metrics.zone_summary(snap)
"""),
        code("""
viz.buddyinfo(snap)
"""),
        md("""
## The memory map

The snapshot rebuilt as mmkit's page arrays (`Memory.from_snapshot`): every page's owner
deduced from its flags and counts, free lists in the kernel's order. One cell per
pageblock (2 MiB), coloured by what fills most of it, then by the pageblock's migratetype
(from `pagetypeinfo`):
"""),
        code("""
mem = mmkit.Memory.from_snapshot(snap)
viz.memory_map(mem)
"""),
        code("""
viz.memory_map(mem, color="migratetype")
"""),
        md("""
## `echo 1 > /proc/sys/vm/compact_memory`, simulated

`mmkit.compact_memory` runs on a copy what the sysctl runs: `lru_add_drain_all()`, then
`compact_zone()` on every populated zone with order -1, synchronous, skip hints ignored, under
the snapshot's own kernel rules (v6.18 here). It returns the copy and the vmstat counters
it moved, under their kernel names.
"""),
        code("""
after, vmstat = mmkit.compact_memory(mem)
print(after.meta["compact_memory"]["results"])
pl.DataFrame({"counter": list(vmstat), "delta": list(vmstat.values())}).filter(pl.col("delta") != 0)
"""),
        code("""
before_after = pl.concat([
    mmkit.metrics.zone_summary(mem).with_columns(state=pl.lit("snapshot")),
    mmkit.metrics.zone_summary(after).with_columns(state=pl.lit("after compact_memory")),
])
before_after
"""),
        code("""
print(mmkit.metrics.debugfs_text(after, "unusable_index"))
viz.buddyinfo(after)
"""),
        code("""
viz.memory_map(after)
"""),
        md("""
## How close is this to the kernel?

`data/compaction-runs` keeps eleven states of this kind of VM just before the kernel itself
ran `echo 1 > /proc/sys/vm/compact_memory` on them, with what the kernel left after it
(`/proc/buddyinfo`, the vmstat counters, where each zone's `compact_zone` ended) and what
mmkit's v6.18 compaction predicted from the state before
(`verification/compaction_vs_kernel.py` made them; it runs mmkit on the CPU the kernel
used and ages the per-CPU lists as the kernel's vmstat worker did in between). The figures
are those of the commit that kept each run; `tests/test_kernel_runs.py` recomputes them and
fails a change of the model that loses a target a run met. Run 20, the VM as found and then
fragmented:
"""),
        code("""
import json

import altair as alt

RUNS = Path("../data/compaction-runs")
fig = json.loads((RUNS / "r20" / "figures.json").read_text())
normal = next(z for z in fig["zones"] if z["zone"] == "Normal")
sources = ["before (state A)", "kernel after", "mmkit after"]
rows = [{"order": o, "source": src, "free pages": normal[key][o]}
        for src, key in zip(sources, ("free_pages_before", "free_pages_kernel", "free_pages_mmkit")) for o in range(11)]
alt.Chart(alt.Data(values=rows)).mark_bar().encode(
    x=alt.X("order:O"), xOffset=alt.XOffset("source:N", sort=sources), y=alt.Y("free pages:Q"),
    color=alt.Color("source:N", sort=sources, title=None), tooltip=["order:O", "source:N", "free pages:Q"],
).properties(width=460, height=220, title="Normal zone, free pages by order: the kernel's compact_memory and mmkit's")
"""),
        code("""
print(f"L1 error {normal['error_l1_pct']}% of the kernel's free pages; unusable index at order 9: "
      f"kernel {normal['unusable9_kernel'] / 1000:.3f}, mmkit {normal['unusable9_mmkit'] / 1000:.3f}")
pl.DataFrame(fig["vmstat"]).select("counter", "kernel", "mmkit",
                                   error=pl.col("error_pct").map_elements(lambda x: f"{x:+.1f} %", return_dtype=pl.String))
"""),
        md("""
Every kept run. The targets: free pages by order within 5 % (L1), the unusable index within
0.020, pages migrated and free pages scanned within 3 %; `docs/validation.md` says what
each miss comes from (a busy machine's allocations between the two states, per-CPU pages
kpageflags cannot tell from kernel pages).
"""),
        code("""
def kept(run):
    f = json.loads((run / "figures.json").read_text())
    k = f["run"]
    n = next(z for z in f["zones"] if z["zone"] == "Normal")
    vm = {r["counter"]: r["error_pct"] for r in f["vmstat"]}
    recipe = (["live"] if k["live_mib"] else []) + (["drop caches"] if k["drop_caches"] else []) + (
        ["sync"] if k["sync"] else []) + ([] if (k["gib"], k["files"]) == (6, 20000) else
                                          [f"{k['gib']:g} GiB, {k['files']} files"])
    return {"run": run.name, "recipe": ", ".join(recipe) or "as found", "kernel ended": n["kernel_end"]["status"],
            "L1": f"{n['error_l1_pct']:.2f} %", "unusable 9, kernel": f"{n['unusable9_kernel'] / 1000:.3f}",
            "unusable 9, mmkit": f"{n['unusable9_mmkit'] / 1000:.3f}",
            "pgmigrate_success": f"{vm['pgmigrate_success']:+.1f} %",
            "compact_free_scanned": f"{vm['compact_free_scanned']:+.1f} %"}


pl.Config.set_tbl_rows(20)
pl.DataFrame([kept(r) for r in sorted(RUNS.iterdir()) if (r / "figures.json").exists()])
"""),
        md("""
## Beyond the largest order: what a 1 GiB page would find

The buddy allocator stops at order 10 (4 MiB). A hugetlb gigantic page (1 GiB), a large
CMA area or device memory needs a longer physically contiguous range, which only
`alloc_contig_range()` can make: it migrates the movable pages out of the range and takes
its free pages, and any frame it can neither migrate nor free spoils the range.
`mmkit.contiguity` sorts every frame into free, movable, pinned, reclaimable slab,
unmovable, not initialised yet (this VM initialises Normal on demand) and hole, and counts
the runs and the naturally aligned 2 MiB, 32 MiB and 1 GiB ranges each zone holds:
"""),
        code("""
from mmkit.result import Table  # shares as percents, counts as integers

contig = mmkit.contiguity(mem)
Table(contig.summary)
"""),
        code("""
contig.ranges
"""),
        code("""
viz.contiguity(contig)
"""),
        md("""
The subtitle is the measurement the Contiguitas paper (ISCA 2023) made across a fleet: the
share of memory that cannot move, and the share of 2 MiB blocks it touches (there: 7 % of
memory touching 34 % of the blocks). Which pageblocks spoil each 1 GiB range, and with
what:
"""),
        code("""
contig.spoilers.group_by("zone", "range_pfn").agg(
    pl.len().alias("spoiling pageblocks"), pl.col("unmovable").sum(), pl.col("reclaimable").sum(),
    pl.col("pinned").sum(), pl.col("uninit").sum(), pl.col("hole").sum()).sort("zone", "range_pfn")
"""),
        md("""
The same machine as found, before it was fragmented (`../data/idle`, bundled beside it):
"""),
        code("""
idle = mmkit.contiguity(mmkit.snapshot.load("../data/idle"))
Table(pl.concat([idle.summary.with_columns(snapshot=pl.lit("idle")),
                 contig.summary.with_columns(snapshot=pl.lit(Path(snap.path).name))]
                ).filter(pl.col("pages") > 0).select("snapshot", "zone", "pages", "free", "movable", "unmovable",
                                                     "reclaimable", "unmovable_share", "blocks_touched_share",
                                                     "largest_free_run_pages"))
"""),
        md("""
And after the simulated `compact_memory`: compaction moves pages within a zone but never
past an unmovable page, so ranges it frees were freeable before.
"""),
        code("""
pl.concat([contig.ranges.with_columns(state=pl.lit("snapshot")),
           mmkit.contiguity(after).ranges.with_columns(state=pl.lit("after compact_memory"))]
          ).filter(pl.col("ranges") > 0).select("state", "zone", "size", "ranges", "free", "freeable")
"""),
        md("""
## Watching this machine: the Monitor

`mmkit.widgets.Monitor()` samples the machine this kernel runs on every few seconds, in a
background thread: free pages by order, the unusable and fragmentation indices, pageblocks
by migratetype and mixed pageblocks, and the compaction counters of `/proc/vmstat`, over
time. Its *What would compact_memory do now?* tab captures the machine, rebuilds it and
shows the simulated result beside the current state (as root, with the confirmation ticked,
it runs the real one too and shows both). `monitor.save(folder)` writes the samples as a
snapshot series that `mmkit.snapshot.load_series` reads back. Without root, what the kernel
keeps for root (`pagetypeinfo`, 0400 since 5.6; `kpageflags`) is shown as unavailable.

Here it samples for three seconds and stops, so that no thread outlives the cell; in
JupyterLab press *Start*.
"""),
        code("""
import time

from mmkit.widgets import Monitor

monitor = Monitor(interval=1)
monitor.start()
time.sleep(3)
print(f"stopped in {monitor.stop():.2f} s after {monitor.samples} samples; "
      f"unavailable here: {monitor.unavailable or 'nothing'}")
monitor
"""),
        md("""
Its charts are functions of its history, a polars frame (one row per sample, metric, zone
and order), so they can be drawn on their own too:
"""),
        code("""
viz.monitor_indices(monitor.history, order=9)
"""),
    ]


NOTEBOOKS = {
    "01-quickstart.ipynb": quickstart,
    "02-the-review.ipynb": the_review,
    "03-why-the-series.ipynb": why_the_series,
    "04-your-machine.ipynb": your_machine,
}


def notebook(cells: list[dict]) -> nbformat.NotebookNode:
    """An nbformat 4 notebook of ``cells``, no outputs, stable cell ids."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for i, c in enumerate(cells):
        cid = f"cell-{i:02d}"
        if c["cell_type"] == "markdown":
            cell = nbformat.v4.new_markdown_cell(c["source"], id=cid)
        else:
            cell = nbformat.v4.new_code_cell(c["source"], id=cid)
            if c["tags"]:
                cell.metadata["tags"] = c["tags"]
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def render(name: str) -> str:
    return nbformat.writes(notebook(NOTEBOOKS[name]())) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="write (or --check) the notebooks of this folder")
    p.add_argument("--check", action="store_true", help="exit 1 if a notebook differs from what this script writes")
    args = p.parse_args(argv)
    stale = []
    for name in NOTEBOOKS:
        path = HERE / name
        text = render(name)
        if args.check:
            if not path.is_file() or path.read_text() != text:
                stale.append(name)
        elif not path.is_file() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run: python notebooks/build.py", file=sys.stderr)
        return 1
    return 0


def one_notebook_main(name: str, cells, script: str, argv: list[str] | None = None) -> int:
    """The command line of a script that writes one notebook (``build_05.py``,
    ``build_06.py``): write ``name`` from ``cells()``, or with ``--check`` exit 1 if it
    differs."""
    p = argparse.ArgumentParser(description=f"write (or --check) notebooks/{name}")
    p.add_argument("--check", action="store_true", help="exit 1 if the notebook differs from what this script writes")
    args = p.parse_args(argv)
    path = HERE / name
    text = nbformat.writes(notebook(cells())) + "\n"
    if args.check:
        if not path.is_file() or path.read_text() != text:
            print(f"out of date: {name}; run: python notebooks/{script}", file=sys.stderr)
            return 1
        return 0
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
