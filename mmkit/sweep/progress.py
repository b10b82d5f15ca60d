"""Progress over cells: a tqdm.auto bar, a callable ``f(done, total)``, or nothing."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable


class CellProgress:
    """Counts finished cells (those read back from ``out`` included) out of ``total``."""

    def __init__(self, total: int, done: int, progress: bool | Callable[[int, int], None], desc: str) -> None:
        self.callback = progress if callable(progress) else None
        self.enabled = bool(progress) and self.callback is None
        self.total, self.done, self.bar = total, done, None
        self.t0 = time.perf_counter()
        if self.enabled:
            try:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=total, initial=done, desc=desc, unit="cell")
            except ImportError:
                print(f"{desc}: {done}/{total} cells", end="", file=sys.stderr)
        if self.callback is not None:
            self.callback(done, total)

    def advance(self) -> None:
        self.done += 1
        if self.callback is not None:
            self.callback(self.done, self.total)
        if self.bar is not None:
            self.bar.update(1)
        elif self.enabled:
            print(f"\r{self.done}/{self.total} cells", end="", file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            print(f" ({time.perf_counter() - self.t0:.1f} s)", file=sys.stderr)
