"""``prefill``'s loop gives the machine its Python twin gives, through the same compiled
``do_alloc`` (as ``tick_ops`` calls it); zspage ids are handed out as from a stack that
starts full."""

import numpy as np
import pytest

from mmkit.engine import state as _st
from mmkit.engine import workload as W
from mmkit.engine.buddy import zone_free_pages
from mmkit.engine.sim import Sim
from mmkit.model.memory import Memory
from mmkit.run import compile_params
from mmkit.workloads import workload


def _called_prefill(sim: Sim, P: np.ndarray, share_ppm: int) -> int:
    """``prefill``'s loop in Python: every allocation through the compiled ``do_alloc``."""
    A, vc, S = sim.A, sim.vc, sim.S
    zone_hi = sim.mem.nr_zones - 1
    managed = int(W.managed_pages(A))
    target = managed * share_ppm // 1_000_000
    misses = used = 0
    while misses < 64:
        used = managed - sum(int(zone_free_pages(A, z)) for z in range(zone_hi + 1))
        if used >= target:
            break
        if W.do_alloc(A, vc, S, P, W.pick_kind(S, P), zone_hi, True) != 0:
            misses += 1
        else:
            misses = 0
    return used


@pytest.mark.parametrize("preset", [pytest.param("review-04", marks=pytest.mark.slow),  # 4 GiB: the slow tier
                                    "zram-pressure", "steady", "balloon-vm"])
def test_prefill_equals_its_loop_in_python(preset):
    wl = workload(preset)
    values = wl.params()
    share = round(values["prefill"] * 1_000_000)
    assert share > 0
    out = []
    for compiled in (True, False):
        mem = Memory.synthetic(gib=0.25, variant="v4.5")
        P = compile_params(values, mem)
        sim = Sim(mem, 7)
        used = int(W.prefill(sim.A, sim.vc, sim.S, P, share, -1)) if compiled else _called_prefill(sim, P, share)
        sim.check()
        out.append((used, mem, sim.S))
    (u1, m1, s1), (u2, m2, s2) = out
    assert u1 == u2 > 0
    for name in m1.__dataclass_fields__:
        a, b = getattr(m1, name), getattr(m2, name)
        if isinstance(a, np.ndarray):
            assert np.array_equal(a, b), name
    for name in ("st", "vm", "faults", "zc"):
        assert np.array_equal(getattr(s1, name), getattr(s2, name)), name
    # the prefill made pages of more than one kind, THP among them where the preset asks
    assert len(np.unique(m1.kind)) > 3


def _eager_ids(ops, cap):
    """The ids zsmalloc hands out, from a stack that starts as cap-1 .. 0 (the model of
    ``alloc_zspage`` / ``free_zspage``): ``ops`` is a list of +1 (alloc) or a zspage id
    (free); returns the id of each alloc (-1 when full)."""
    stack = list(range(cap - 1, -1, -1))
    live = 0
    got = []
    for op in ops:
        if op == "alloc":
            if live >= cap:
                got.append(-1)
                continue
            got.append(stack[cap - 1 - live])
            live += 1
        else:
            top = cap - live
            k = stack.index(op, top)
            stack[k], stack[top] = stack[top], op
            live -= 1
    return got


def test_zspage_ids_come_from_a_stack_that_starts_full():
    """The engine writes a stack slot only when it first pops it; the ids must be those of
    a stack filled up front, through frees, reuse and running out."""
    from mmkit.engine import owners as _ow

    cap = 6
    mem = Memory.synthetic(gib=0.0625, variant="v4.8")
    sim = Sim(mem, 3, zspage_capacity=cap)
    rng = np.random.default_rng(5)
    ops, got = [], []
    live: list[int] = []
    for _ in range(200):
        if live and (rng.random() < 0.45 or len(live) == cap + 1):
            z = live.pop(int(rng.integers(len(live))))
            _ow.free_zspage(sim.A, sim.vc, sim.S, z)
            ops.append(z)
        else:
            z = int(_ow.alloc_zspage(sim.A, sim.vc, sim.S, int(rng.integers(_st.NR_ZS_CLASSES)), sim.zone_hi, 0))
            ops.append("alloc")
            got.append(z)
            if z >= 0:
                live.append(z)
        sim.check()
    assert got == _eager_ids(ops, cap)
    assert -1 in got and sorted(set(got) - {-1}) == list(range(cap))  # ran out, and used every id
