"""Invariant soak: random operation sequences through the ``Sim`` door, every check after
every operation, under the six named variants and random user-built ones.

After each operation two checks run:

* ``Sim.check()``: ``Memory.check()`` (free lists, buddy state, refcounts, kinds, holes,
  PG_lru with a reference) plus what ``Sim`` adds (compaction's private lists empty
  between operations, the balloon's page count equals its frames, each live zspage's
  sub-pages are zsmalloc pages of that zspage). A failure is a **violation**: the goal is 0.
* :func:`owner_findings`: the owners' bookkeeping those do not look at: each LRU list is
  intact and holds only LRU pages (PG_lru, anonymous or page cache, listed once), every
  LRU page is on a list, the balloon list holds each balloon page once, every zsmalloc
  frame belongs to a live zspage and the object count adds up, compound tails point at a
  head of the right order and kind, free frames hold no reference. A page the variant's
  own faults touched (an event names its pfn: a misrouted putback, an LRU or list
  corruption, a deflate race ...) is excused: that is what the variant is meant to show.
  What remains is a **finding**, reported apart from the violations.

How to run (from the repository root)::

    .venv/bin/python verification/soak.py                      # 1,000 runs on a fresh seed
    .venv/bin/python verification/soak.py --runs 50 --seed 7   # 50 runs on seed 7
    .venv/bin/python verification/soak.py --repro 17 --seed 7  # run 17 of seed 7 again, op by op
    .venv/bin/python verification/soak.py --repro 17 --seed 7 --keep 0,4,9  # only those ops

The seed comes first in the output, with the command that repeats the run (a fresh one,
from the operating system, unless ``--seed`` gives it). Prints the violations and
findings, each with the command that replays its run and the minimal operation list
(operations deleted while the same kind of failure persists) with its own replay command,
the total time and the slowest run.
"""

from __future__ import annotations

import argparse
import enum
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "verification"))

from opgen import apply_sim_op, cma_area_of, free_candidates, held_range, random_sim_ops, sim_cma_area
from seeds import announce

import mmkit
from mmkit.engine import state as _st
from mmkit.engine.sim import Sim
from mmkit.errors import InvariantError, VariantError
from mmkit.model.flags import PG_head, PG_lru
from mmkit.model.kinds import MAX_ORDER, MIGRATE_TYPES, NR_LRU_LISTS, PageKind
from mmkit.model.memory import synthetic_layout
from mmkit.semantics import NAMED, RULE_FIELDS, Variant
from mmkit.semantics.variant import rule_values

# machines: two small zones and 2 CPUs' per-CPU lists; one zone; the mib= layout (DMA
# from pfn 1); a larger one with 3 CPUs
LAYOUTS = (
    {"zones": [("DMA32", 4), ("Normal", 8)], "cpus": 2},
    {"zones": [("Normal", 8)]},
    {"mib": 32},
    {"zones": [("DMA32", 8), ("Normal", 24)], "cpus": 3},
)


def _geometry(layout: dict) -> dict:
    """A layout without its CPUs (what synthetic_layout takes)."""
    return {k: v for k, v in layout.items() if k != "cpus"}
# the Sim's race and failure rates: none; some; the worst the review describes
RATES = (
    {},
    {"deflate_race": 0.5, "migrate_fail": 0.05, "concurrent_compaction": 0.3},
    {"deflate_race": 1.0, "migrate_fail": 0.85, "concurrent_compaction": 1.0, "swap": False},
)
# events whose page the variant has mishandled on purpose: owner findings there are excused
FAULT_CODES = tuple(_st.FAULT_EVENTS)


# --------------------------------------------------------------------------- variants
def user_variant(base: str, changes: dict) -> Variant | None:
    """``NAMED[base]`` with ``changes``, or None where no kernel could have that mix."""
    try:
        return NAMED[base].replace(name=f"{base}+" + ",".join(f"{k}={_short(v)}" for k, v in changes.items()),
                                   **changes)
    except VariantError:
        return None


def _short(v) -> str:
    return v.name if isinstance(v, enum.Enum) else str(v)


def random_variant(rng: np.random.Generator, user_share: float = 0.4) -> Variant:
    """A named variant, or (``user_share`` of the time) a valid user-built one."""
    names = list(NAMED)
    if rng.random() >= user_share:
        return NAMED[names[int(rng.integers(len(names)))]]
    while True:
        base = names[int(rng.integers(len(names)))]
        k = int(rng.integers(1, 4))
        picked = rng.choice(len(RULE_FIELDS), size=k, replace=False)
        changes = {}
        for i in picked:
            name = RULE_FIELDS[int(i)]
            values = [x for x in rule_values(name) if x != getattr(NAMED[base], name)]  # a change, not the base's
            changes[name] = values[int(rng.integers(len(values)))]
        v = user_variant(base, changes)
        if v is not None:
            return v


def variants():
    """The hypothesis strategy of variants: the six named ones and valid user-built ones."""
    from hypothesis import strategies as st

    named = st.sampled_from([NAMED[n] for n in NAMED])

    @st.composite
    def built(draw):
        base = draw(st.sampled_from(list(NAMED)))
        fields = draw(st.lists(st.sampled_from(RULE_FIELDS), min_size=1, max_size=3, unique=True))
        changes = {f: draw(st.sampled_from(rule_values(f))) for f in fields}
        v = user_variant(base, changes)
        return v if v is not None else NAMED[base]

    return st.one_of(named, built())


# --------------------------------------------------------------------------- checks
def _fault_pfns(sim: Sim) -> set[int]:
    ev = sim.events()
    return set(ev[np.isin(ev[:, 2], FAULT_CODES), 1].tolist()) if len(ev) else set()


def owner_findings(sim: Sim, *, excuse: bool = True, consequences: list[str] | None = None) -> list[str]:
    """The owners' bookkeeping that ``Sim.check`` leaves out (see the module docstring);
    an empty list when it holds. Pages a fault event names are excused (``excuse``); so is
    any page's list membership once an LRU or list corruption was recorded: a
    ``list_head`` threaded onto a second list drags its neighbours along, pages no event
    names. Those go to ``consequences`` when a list is given."""
    m, S = sim.mem, sim.S
    n = m.nr_pages
    nz = m.nr_zones
    total = m.lru_next.shape[0]
    excused = _fault_pfns(sim) if excuse else set()
    corrupted = excuse and bool(sim.fault_counts()[[_st.EV_LIST_CORRUPTION, _st.EV_LRU_CORRUPTION]].sum())
    out: list[str] = []

    def finding(pfn: int, what: str, membership: bool = False) -> None:
        if pfn in excused:
            return
        if membership and corrupted:
            if consequences is not None:
                consequences.append(f"pfn {pfn:#x}: {what}")
            return
        out.append(f"pfn {pfn:#x}: {what}")

    nxt, prv, flags, kind = m.lru_next, m.lru_prev, m.flags, m.kind
    lru_set = (flags[:n] >> PG_lru) & 1 == 1
    user = (kind == PageKind.ANON) | (kind == PageKind.FILE)

    # LRU lists: intact, only LRU pages, each page on one list
    on_lru = np.zeros(n, dtype=np.int64)
    lru_base = n + nz * MAX_ORDER * MIGRATE_TYPES
    for z in range(nz):
        for lst in range(NR_LRU_LISTS):
            head = lru_base + z * NR_LRU_LISTS + lst
            prev, node, steps = head, int(nxt[head]), 0
            while node != head:
                if not 0 <= node < total or node >= n:
                    if not corrupted:
                        out.append(f"LRU list {lst} of zone {z}: a link to node {node}, not a page")
                    break
                if int(prv[node]) != prev and not corrupted:
                    finding(node, f"on LRU list {lst} of zone {z}, its back link is {int(prv[node])}, not {prev}")
                if not lru_set[node]:
                    finding(node, f"on LRU list {lst} of zone {z} without PG_lru ({PageKind(int(kind[node])).name})",
                            True)
                elif not user[node]:
                    finding(node, f"a {PageKind(int(kind[node])).name} page on LRU list {lst} of zone {z}", True)
                on_lru[node] += 1
                steps += 1
                if steps > n:
                    if not corrupted:
                        out.append(f"LRU list {lst} of zone {z} does not return to its head")
                    break
                prev, node = node, int(nxt[node])
    for p in np.flatnonzero(on_lru > 1):
        finding(int(p), f"on {int(on_lru[p])} LRU lists", True)
    heads = nxt[:n] > -2
    for p in np.flatnonzero(lru_set & user & heads & (on_lru == 0))[:20]:
        finding(int(p), f"{PageKind(int(kind[p])).name} page with PG_lru on no LRU list", True)

    # the balloon: every balloon page on balloon->pages once, the count adds up
    head = n + nz * (MAX_ORDER * MIGRATE_TYPES + NR_LRU_LISTS) + _st.HEAD_BALLOON
    on_balloon = np.zeros(n, dtype=np.int64)
    node, steps = int(nxt[head]), 0
    while node != head and 0 <= node < n and steps <= n:
        on_balloon[node] += 1
        if kind[node] != PageKind.BALLOON:
            finding(node, f"a {PageKind(int(kind[node])).name} page on the balloon list", True)
        steps += 1
        node = int(nxt[node])
    balloon = kind == PageKind.BALLOON
    for p in np.flatnonzero(balloon & (on_balloon != 1))[:20]:
        finding(int(p), f"balloon page on the balloon list {int(on_balloon[p])} times", True)
    listed = int(on_balloon.sum())
    if listed + int(S.st[_st.ST_BALLOON_ISOLATED]) != int(S.st[_st.ST_BALLOON_PAGES]) and not corrupted:
        out.append(f"balloon: {listed} listed + {int(S.st[_st.ST_BALLOON_ISOLATED])} isolated != "
                   f"{int(S.st[_st.ST_BALLOON_PAGES])} pages")

    # zsmalloc: every zsmalloc frame is a sub-page of a live zspage; objects add up
    cap = S.zs_free_ids.shape[0]
    live = S.zs_free_ids[cap - int(S.st[_st.ST_ZS_LIVE]):]
    sub = S.zs_pages[live][S.zs_pages[live] >= 0]
    owned = np.zeros(n, dtype=bool)
    owned[sub] = True
    for p in np.flatnonzero((kind == PageKind.ZSMALLOC) & ~owned)[:20]:
        finding(int(p), "zsmalloc page of no live zspage")
    if int(S.zs_objs[live].sum()) != int(S.st[_st.ST_ZS_OBJECTS]):
        out.append(f"zsmalloc: zspages hold {int(S.zs_objs[live].sum())} objects, the count says "
                   f"{int(S.st[_st.ST_ZS_OBJECTS])}")

    # compound pages: a tail points at a PG_head page of its kind whose order covers it
    tails = np.flatnonzero(nxt[:n] <= -2)
    if tails.size:
        hd = (-2 - nxt[tails]).astype(np.int64)
        bad = (hd < 0) | (hd >= n)
        hd_ok = np.where(bad, 0, hd)
        order = m.private[np.minimum(hd_ok + 1, n - 1)].astype(np.int64)
        bad |= (flags[hd_ok] >> PG_head) & 1 == 0
        bad |= kind[tails] != kind[hd_ok]
        bad |= (order < 1) | (order >= MAX_ORDER) | (tails >= hd_ok + (1 << np.clip(order, 0, 62)))
        bad |= m.refcount[tails] != 0
        for t in tails[bad][:20]:
            finding(int(t), f"compound tail inconsistent with its head {int(-2 - nxt[t])}")

    # free frames hold no reference and are on no LRU list
    free = kind == PageKind.FREE
    for p in np.flatnonzero(free & ((m.refcount != 0) | lru_set))[:20]:
        finding(int(p), "free frame with a reference or PG_lru")
    return out


# --------------------------------------------------------------------------- runs
def finding_kind(f: str) -> str:
    """A finding without its numbers: what tells kinds of findings apart."""
    return re.sub(r"0x[0-9a-f]+|-?[0-9]+", "N", f.removeprefix("after boot: ").rsplit("}: ", 1)[-1])


@dataclass
class Case:
    """One soak run: the variant, machine, rates and the operations' seed and number."""

    variant: Variant
    layout: int
    rates: int
    seed: int
    n_ops: int
    scale: float = 1.0
    proactive: float = 0.0  # chance of kcompactd's proactive check after an op
    cma_blocks: int = 0  # a CMA area of that many pageblocks at the top, before the first op

    def describe(self) -> str:
        return (f"variant {self.variant.name}, layout {layout_name(self.layout)}, rates {RATES[self.rates]}, "
                f"seed {self.seed}, {self.n_ops} ops, scale {self.scale}"
                + (f", proactive {self.proactive}" if self.proactive else "")
                + (f", CMA area {self.cma_blocks} pageblocks" if self.cma_blocks else ""))


@dataclass
class Outcome:
    case: Case
    violations: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    consequences: int = 0  # list findings excused as the spread of a recorded corruption
    ops: int = 0
    seconds: float = 0.0
    faults: Counter = field(default_factory=Counter)
    first_op: int | None = None  # the operation after which the first violation or finding showed (-1: boot)

    def failure(self) -> str | None:
        """The first violation, else the first finding, else None."""
        return (self.violations or self.findings or [None])[0]


# a real machine: the bundled fragmented 24 GiB snapshot, rebuilt per variant once per
# process (Memory.from_snapshot) and copied for each run (``snapshot_case_of``)
SNAPSHOT = -1
SNAPSHOT_DIR = ROOT / "data" / "fragmented"
_SNAPSHOT_MEMORIES: dict[str, mmkit.Memory] = {}


def snapshot_memory(variant: Variant) -> mmkit.Memory:
    key = repr(variant)
    if key not in _SNAPSHOT_MEMORIES:
        _SNAPSHOT_MEMORIES.clear()  # one at a time: 157 MB each
        _SNAPSHOT_MEMORIES[key] = mmkit.Memory.from_snapshot(str(SNAPSHOT_DIR), variant)
    return _SNAPSHOT_MEMORIES[key].copy()


def layout_name(layout: int) -> str:
    return f"snapshot {SNAPSHOT_DIR.name}" if layout == SNAPSHOT else str(LAYOUTS[layout])


def make_sim(case: Case) -> Sim:
    if case.layout == SNAPSHOT:
        mem = snapshot_memory(case.variant)
    else:
        mem = mmkit.Memory.synthetic(**LAYOUTS[case.layout], variant=case.variant)
    sim = Sim(mem, seed=case.seed, **RATES[case.rates])
    sim_cma_area(sim, case.cma_blocks)
    return sim


def _candidates(sim: Sim, held) -> np.ndarray:
    m = sim.mem
    return free_candidates(m.kind.astype(np.int64), m.refcount, m.lru_next[: m.nr_pages] <= -2, held)


def ops_of(case: Case) -> list[tuple[str, dict]]:
    """The run's operations (a function of its seed, machine and scale)."""
    if case.layout == SNAPSHOT:
        m = snapshot_memory(case.variant)
        spans = [(int(a), int(b)) for a, b in zip(m.zone_start, m.zone_end)]
    else:
        spans = [(s, s + n) for _, s, n in synthetic_layout(**_geometry(LAYOUTS[case.layout]))]
    return list(random_sim_ops(case.seed, case.n_ops, spans, case.scale, case.proactive,
                               cma_area_of(spans, case.cma_blocks)))


def run(case: Case, ops: Iterable[tuple[str, dict]] | None = None, *, findings: bool = True,
        verbose: bool = False, numbers: Sequence[int] | None = None) -> Outcome:
    """Run ``case`` (or the given operations on its machine), checking after each one;
    stops at the first violation. ``numbers``: how the reports number the given
    operations (default 0, 1, ...)."""
    t0 = time.perf_counter()
    out = Outcome(case)
    sim = make_sim(case)
    held: list[tuple[int, int]] = []
    seen: set[str] = set()

    def check(where: str, i: int) -> bool:
        try:
            sim.check()
        except InvariantError as e:
            out.violations.append(f"{where}: {e}")
            out.first_op = i if out.first_op is None else out.first_op
            return False
        if findings:
            spread: list[str] = []
            found = owner_findings(sim, consequences=spread)
            out.consequences += len(spread)
            for f in found:
                if finding_kind(f) not in seen:  # one report per kind of finding
                    seen.add(finding_kind(f))
                    out.findings.append(f"{where}: {f}")
                    out.first_op = i if out.first_op is None else out.first_op
        return True

    if check("after boot", -1):
        for i, (name, args) in enumerate(ops_of(case) if ops is None else ops):
            result = apply_sim_op(sim, name, args, _candidates(sim, held), held)
            if held_range(name, args, result):
                held.append(held_range(name, args, result))
            elif name == "free_contig_range" and result is not None:
                held.remove(result)
            out.ops += 1
            label = i if numbers is None else numbers[i]
            if verbose:
                print(f"  op {label} {name} {args} -> {result}")
            if not check(f"op {label} {name} {args}", i):
                break
    fc = sim.fault_counts()
    out.faults = Counter({_st.EVENT_NAMES[e]: int(fc[e].sum()) for e in FAULT_CODES if fc[e].sum()})
    out.seconds = time.perf_counter() - t0
    return out


def shrink(case: Case, ops: Sequence[tuple[str, dict]] | None = None, *, budget: float = 120.0
           ) -> tuple[list[int], Outcome]:
    """The indices of a minimal sublist of ``case``'s operations (or ``ops``) that still
    ends in the same kind of failure (violation, else finding) as the whole list, and
    that sublist's outcome: operations after the failure are dropped, then halves,
    quarters ... and single operations are deleted while the failure persists (within
    ``budget`` seconds; what is left then is returned)."""
    ops = ops_of(case) if ops is None else list(ops)
    full = run(case, ops)
    if full.failure() is None:
        raise ValueError(f"{case.describe()}: no violation or finding to shrink")
    target = (bool(full.violations), finding_kind(full.failure()))
    t_end = time.perf_counter() + budget

    def same(o: Outcome) -> bool:
        return o.failure() is not None and (bool(o.violations), finding_kind(o.failure())) == target

    keep = list(range(len(ops) if full.first_op < 0 else full.first_op + 1))
    best = run(case, [ops[k] for k in keep], numbers=keep)
    if not same(best):  # the later operations matter (e.g. a finding's report): keep them all
        keep, best = list(range(len(ops))), full
    chunk = max(len(keep) // 2, 1)
    while time.perf_counter() < t_end:
        changed, i = False, 0
        while i < len(keep) and time.perf_counter() < t_end:
            trial = keep[:i] + keep[i + chunk:]
            o = run(case, [ops[k] for k in trial], numbers=trial)
            if same(o):
                keep, best, changed = trial, o, True
            else:
                i += chunk
        if chunk == 1 and not changed:
            break
        chunk = max(chunk // 2, 1)
    return keep, best


def shrink_report(case: Case, run_index: int, seed: int, budget: float = 120.0) -> str:
    """The minimal operation list of a failing run, printed as it replays."""
    ops = ops_of(case)
    t0 = time.perf_counter()
    keep, o = shrink(case, ops, budget=budget)
    lines = [f"    minimal operation list ({len(keep)} of {len(ops)} ops, shrunk in "
             f"{time.perf_counter() - t0:.0f} s): {o.failure()}"]
    lines += [f"      op {k}: {ops[k][0]} {ops[k][1]}" for k in keep]
    lines.append(f"    replay it: .venv/bin/python verification/soak.py --repro {run_index} --seed {seed}"
                 f"{_flag(case)} --keep {','.join(map(str, keep)) or 'none'}")
    return "\n".join(lines)


def _flag(case: Case) -> str:
    return " --snapshot" if case.layout == SNAPSHOT else ""


def case_of(index: int, seed: int = 1) -> Case:
    """Soak run ``index``: the same on every machine."""
    rng = np.random.default_rng([seed, index])
    return Case(variant=random_variant(rng), layout=int(rng.integers(len(LAYOUTS))),
                rates=int(rng.integers(len(RATES))), seed=int(rng.integers(2**40)),
                n_ops=int(rng.integers(10, 61)), scale=float(rng.choice([1.0, 1.0, 1.4])),
                proactive=float(rng.choice([0.0, 0.1])),
                # a generator of its own, so the fields above are what they always were
                cma_blocks=int(np.random.default_rng([seed, index, 2]).choice([0, 0, 2, 4])))


def snapshot_case_of(index: int, seed: int = 1) -> Case:
    """Snapshot run ``index``: the bundled real snapshot under a random variant, fewer
    operations (each check walks 6.5 million frames)."""
    rng = np.random.default_rng([seed, index, 1])
    return Case(variant=random_variant(rng), layout=SNAPSHOT, rates=int(rng.integers(len(RATES))),
                seed=int(rng.integers(2**40)), n_ops=int(rng.integers(5, 16)), scale=1.0)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=None, help="default: a fresh one, printed first")
    ap.add_argument("--repro", type=int, metavar="RUN", help="run number RUN again, printing each operation")
    ap.add_argument("--keep", metavar="I,J,...", help="with --repro: only these operations of the run")
    ap.add_argument("--snapshot", action="store_true",
                    help="runs on the bundled real snapshot (data/fragmented), rebuilt per variant")
    ap.add_argument("--shrink-budget", type=float, default=120.0, metavar="S",
                    help="seconds to shrink each failing run's operation list (0: do not shrink)")
    args = ap.parse_args(argv)
    if args.repro is not None:
        if args.seed is None:
            ap.error("--repro needs the --seed of the run it replays")
        case = (snapshot_case_of if args.snapshot else case_of)(args.repro, args.seed)
        print(case.describe())
        ops = ops_of(case)
        numbers = list(range(len(ops)))
        if args.keep is not None:
            numbers = [int(k) for k in args.keep.split(",") if k not in ("", "none")]
        o = run(case, [ops[k] for k in numbers], verbose=True, numbers=numbers)
        print("violations:", o.violations or "none")
        print("findings:", o.findings or "none")
        return 1 if o.violations else 0
    args.seed = announce("verification/soak.py", args.seed, sys.argv[1:] if argv is None else argv)
    return report(soak(args.runs, args.seed, snapshot=args.snapshot), args.seed, shrink_budget=args.shrink_budget)


@dataclass
class Soak:
    """The outcomes of a soak's runs, with its warm-up and total time."""

    outcomes: list[Outcome]
    seconds: float
    warm: float


def soak(runs: int, seed: int, progress: bool = True, snapshot: bool = False) -> Soak:
    """Runs ``0..runs-1`` of ``seed`` (``snapshot``: on the bundled real snapshot)."""
    case_of_ = snapshot_case_of if snapshot else case_of
    t0 = time.perf_counter()
    run(case_of(0, seed))  # numba's cache loads here, outside the timings
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    outcomes = []
    for i in range(runs):
        o = run(case_of_(i, seed))
        outcomes.append(o)
        if progress and (i + 1) % 100 == 0:
            print(f"{i + 1} runs, {sum(len(x.violations) for x in outcomes)} violations, "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
    return Soak(outcomes, time.perf_counter() - t0, warm)


def report(result: Soak, seed: int, shrink_budget: float = 120.0) -> int:
    """Print a soak's counts, its violations and findings (each with its replay command
    and, ``shrink_budget`` > 0, its minimal operation list); 1 if a violation or finding."""
    outcomes, total, warm = result.outcomes, result.seconds, result.warm
    ops = sum(o.ops for o in outcomes)
    by_variant = Counter(o.case.variant.name if o.case.variant.name in NAMED else "user-built" for o in outcomes)
    faults = sum((o.faults for o in outcomes), Counter())
    violations = [(i, v) for i, o in enumerate(outcomes) for v in o.violations]
    found = [(i, f) for i, o in enumerate(outcomes) for f in o.findings]
    slow_i = max(range(len(outcomes)), key=lambda i: outcomes[i].seconds)
    slow = outcomes[slow_i]
    print(f"\n{len(outcomes)} runs, {ops} operations, each followed by Sim.check() and the owner checks")
    print("runs by variant: " + ", ".join(f"{k} {v}" for k, v in sorted(by_variant.items())))
    print("fault events seen (what the variants are meant to show): "
          + ", ".join(f"{k} {v}" for k, v in faults.most_common()))
    print(f"violations (Sim.check): {len(violations)}")
    for n, (i, v) in enumerate(violations[:20]):
        print(f"  run {i} ({outcomes[i].case.describe()}): {v}\n    replay: .venv/bin/python verification/soak.py "
              f"--repro {i} --seed {seed}{_flag(outcomes[i].case)}")
        if shrink_budget > 0 and n < 5:
            print(shrink_report(outcomes[i].case, i, seed, shrink_budget), flush=True)
    kinds = Counter(finding_kind(f) for _, f in found)
    spread = [i for i, o in enumerate(outcomes) if o.consequences]
    print(f"list findings excused as the spread of a recorded LRU/list corruption: "
          f"{sum(outcomes[i].consequences for i in spread)} in {len(spread)} runs {spread[:20]}")
    print(f"owner findings (not excused by a fault event): {len(found)} in "
          f"{len({i for i, _ in found})} runs {sorted({i for i, _ in found})}")
    for k, c in kinds.most_common(12):
        i, f = next((i, f) for i, f in found if finding_kind(f) == k)
        print(f"  x{c} runs: {k}\n    e.g. run {i} ({outcomes[i].case.describe()}): {f}\n"
              f"    replay: .venv/bin/python verification/soak.py --repro {i} --seed {seed}{_flag(outcomes[i].case)}")
        if shrink_budget > 0 and not outcomes[i].violations:
            print(shrink_report(outcomes[i].case, i, seed, shrink_budget), flush=True)
    print(f"total {total:.1f} s ({warm:.1f} s warm-up before); slowest run {slow_i}: {slow.seconds:.2f} s, "
          f"{slow.ops} ops, {slow.case.describe()}")
    return 1 if violations or found else 0


if __name__ == "__main__":
    sys.exit(main())
