"""Page size per backfill, chosen for throughput: answers well under GitHub's 10 s kill.

- Never above the size with the fewest points per PR (`best_page_size`): a larger page costs
  more points for the same PRs.
- An answer slower than the target response time (`ServerTimePacer.target`, 5 s on GitHub's
  scale) shrinks the page in proportion; a 502/504 or RESOURCE_LIMITS_EXCEEDED halves it.
- It grows back slowly: by a quarter after `GROW_AFTER` answers in a row that would still be
  under the target at the larger size.
- The size a backfill settles on is stored on it (`page_size`), so whoever claims it next
  starts there (`remember`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from uuid import UUID

from core.github.queries import best_page_size

GROW_AFTER = 4  # answers in a row under the target before growing again
GROWTH = 1.25


class PageSizes:
    def __init__(self, ceiling: int | None = None, target: float | None = None) -> None:
        self.ceiling = ceiling or best_page_size()
        self.target = target
        self._size: dict[UUID, int] = {}
        self._streak: defaultdict[UUID, int] = defaultdict(int)

    def get(self, key: UUID) -> int:
        return self._size.get(key, self.ceiling)

    def remember(self, key: UUID, stored: int | None) -> None:
        """Start from the size stored on the backfill, unless this process knows better."""
        if stored is not None and key not in self._size:
            self._size[key] = max(1, min(self.ceiling, stored))

    def shrink(self, key: UUID) -> int:
        """Halve; returns the new size (1 means there is nothing left to shrink)."""
        self._streak[key] = 0
        self._size[key] = max(1, self.get(key) // 2)
        return self._size[key]

    def succeeded(self, key: UUID, seconds: float = 0.0) -> int | None:
        """A page of the current size came back, its slowest answer in `seconds` (0: served
        from PRs fetched ahead, no evidence). Returns the new size when it changed."""
        size = self.get(key)
        if self.target is not None and seconds > self.target and size > 1:
            self._streak[key] = 0
            self._size[key] = max(1, min(size - 1, math.floor(size * self.target / seconds)))
            return self._size[key]
        if seconds <= 0 and self.target is not None:
            return None
        self._streak[key] += 1
        if self._streak[key] < GROW_AFTER or size >= self.ceiling:
            return None
        grown = min(self.ceiling, max(size + 1, math.floor(size * GROWTH)))
        if self.target is not None and seconds * grown / size > self.target:
            return None  # the larger page would be over the target
        self._streak[key] = 0
        self._size[key] = grown
        return grown
