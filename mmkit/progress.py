"""Progress of long work (``compare``'s and ``replay``'s ticks and events, a sweep's
cells): one class for every bar mmkit draws.

``progress`` is what the user gave: True draws a tqdm.auto bar (a widget in a notebook, a
line in a terminal; without tqdm, a plain line on stderr), a callable is called
``progress(done, total)`` after each step, False shows nothing.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable


class Progress:
    """``done`` of ``total`` units (``unit``: "tick", "event", "cell"), advanced from any
    thread; ``done``: how many were finished before (a sweep's cells read back), shown from
    the start and, with ``announce``, passed to the callable at once."""

    def __init__(self, total: int, progress: bool | Callable[[int, int], None], desc: str, unit: str, *,
                 done: int = 0, announce: bool = False) -> None:
        self.callback = progress if callable(progress) else None
        self.enabled = bool(progress) and self.callback is None
        self.total, self.done, self.unit, self.bar = total, done, unit, None
        self.t0 = time.perf_counter()
        self.lock = threading.Lock()
        if self.enabled:
            try:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=total, initial=done, desc=desc, unit=unit)
            except ImportError:
                print(f"{desc}: {done}/{total} {unit}s", end="", file=sys.stderr)
        if self.callback is not None and announce:
            self.callback(done, total)

    def advance(self, n: int = 1) -> None:
        """``n`` more units done."""
        with self.lock:  # the variants' threads each report their chunks: counted in order
            self.done += n
            if self.callback is not None:
                self.callback(self.done, self.total)
            if self.bar is not None:
                self.bar.update(n)
            elif self.enabled:
                print(f"\r{self.done}/{self.total} {self.unit}s", end="", file=sys.stderr)

    __call__ = advance

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            print(f" ({time.perf_counter() - self.t0:.1f} s)", file=sys.stderr)
