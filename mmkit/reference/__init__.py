"""A slow, plainly written Python twin of the engine's rules, for small memories.

Used by tests (differential: engine and twin must agree exactly) and by benchmarks
(the speed ratio). Nothing else imports it.
"""

from mmkit.reference.buddy import RefMemory, engine_state

__all__ = ["RefMemory", "engine_state"]
