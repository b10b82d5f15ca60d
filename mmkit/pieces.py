"""Long work cut into pieces of about a tenth of a second, so that an interrupt is seen
within a second: a compiled kernel does not return to Python, where Ctrl-C is noticed,
until it ends. :class:`Pacer` sizes each piece from how fast the last one went."""

from __future__ import annotations

import time

PIECE_SECONDS = 0.1  # what a piece aims to take
GROWTH = 4  # a piece is at most this many times the last one


class Pacer:
    """The size (in ticks, allocations, compaction batches...) of the next piece of work:
    what the last piece's speed does in ``target`` seconds, at least 1, at most
    ``GROWTH`` times the last piece. Use as ``for n in pacer:`` ... do ``n`` units ...
    ``pacer.done(n)``; the time is measured from one size handed out to the next
    ``done``."""

    def __init__(self, first: int = 1, target: float = PIECE_SECONDS) -> None:
        self.size = max(int(first), 1)
        self.target = target
        self.t0 = time.perf_counter()

    def next(self) -> int:
        """The next piece's size; its clock starts now."""
        self.t0 = time.perf_counter()
        return self.size

    def done(self, units: int) -> None:
        """``units`` of work were done since :meth:`next`: size the next piece."""
        seconds = max(time.perf_counter() - self.t0, 1e-6)
        want = int(units / seconds * self.target)
        self.size = max(1, min(want, GROWTH * max(units, 1)))
