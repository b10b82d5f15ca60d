"""The simulation's one random generator, splitmix64 (Steele, Lea, Flood 2014), in plain
Python integers: the same seed gives the same stream of draws as the engine's."""

from __future__ import annotations

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB


class SplitMix64:
    """``next_u64`` advances the state by the golden gamma and mixes it."""

    def __init__(self, seed: int) -> None:
        self.state = seed * _GOLDEN & _MASK

    def next_u64(self) -> int:
        self.state = (self.state + _GOLDEN) & _MASK
        z = self.state
        z = ((z ^ (z >> 30)) * _M1) & _MASK
        z = ((z ^ (z >> 27)) * _M2) & _MASK
        return z ^ (z >> 31)

    def below(self, n: int) -> int:
        """A draw in [0, n)."""
        return self.next_u64() % n

    def chance_ppm(self, ppm: int) -> bool:
        """True with probability ppm / 10**6; no draw at all when ppm is 0."""
        if ppm <= 0:
            return False
        return self.below(1_000_000) < ppm
