"""A slow, plainly written Python twin of the engine's rules, for small memories.

Used by tests (differential: engine and twin must agree exactly) and by benchmarks
(the speed ratio). Nothing else imports it.

``RefMemory`` is the buddy allocator; ``RefSim`` adds what ``mmkit.engine.sim.Sim``
does on top of it: page owners (LRU, balloon, zsmalloc), compaction, migration with each
variant's routing, contiguous ranges, reclaim and /proc/kpageflags.
"""

from mmkit.reference.buddy import RefMemory, engine_state
from mmkit.reference.sim import RefSim, compare_states, engine_sim_state

__all__ = ["RefMemory", "RefSim", "compare_states", "engine_sim_state", "engine_state"]
