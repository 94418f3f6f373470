"""Adaptive page size per backfill: halve when GitHub struggles, grow back when it recovers.

Never above the size with the fewest points per PR (`best_page_size`): a larger page costs
more points for the same PRs.
"""

from __future__ import annotations

from collections import defaultdict
from uuid import UUID

from core.github.queries import best_page_size

GROW_AFTER = 3  # consecutive successes before doubling again


class PageSizes:
    def __init__(self, ceiling: int | None = None) -> None:
        self.ceiling = ceiling or best_page_size()
        self._size: dict[UUID, int] = {}
        self._streak: defaultdict[UUID, int] = defaultdict(int)

    def get(self, key: UUID) -> int:
        return self._size.get(key, self.ceiling)

    def shrink(self, key: UUID) -> int:
        """Halve; returns the new size (1 means there is nothing left to shrink)."""
        self._streak[key] = 0
        self._size[key] = max(1, self.get(key) // 2)
        return self._size[key]

    def succeeded(self, key: UUID) -> None:
        self._streak[key] += 1
        if self._streak[key] >= GROW_AFTER and self.get(key) < self.ceiling:
            self._size[key] = min(self.ceiling, self.get(key) * 2)
            self._streak[key] = 0
