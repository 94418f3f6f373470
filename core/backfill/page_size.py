"""Page size per backfill, chosen for throughput: answers well under GitHub's 10 s kill.

- Never above the size with the fewest points per PR (`best_page_size`): a larger page costs
  more points for the same PRs.
- Pages typically slower than the target response time (`ServerTimePacer.target`, 5 s on
  GitHub's scale: the median of the last `TYPICAL` answers) shrink in proportion; a 502/504 or
  RESOURCE_LIMITS_EXCEEDED (GitHub's own word that the query is too heavy) halves the page.
  One slow answer alone is noise, not a trend: the same 37 rich PRs take 3 to 7.5 s with
  their reviews, and shrinking on each such answer drove pages down to a dozen PRs, each
  paying GitHub's fixed cost per answer again (more server time and more points per PR).
- A smaller page that is typically no faster (at least `NO_BETTER` of the time that shrank
  it) shows the size is not the cause (GitHub slow at the moment, whatever is asked): the page
  goes back to the size it had, and slowness alone no longer shrinks it below that until
  GitHub kills a query. Without this, answers of 1 s and 9 s in turn held pages at 1 PR.
- It grows back slowly: by a quarter after `GROW_AFTER` answers in a row, while the typical
  answer would still be under the target at the larger size.
- The size a backfill settles on is stored on it (`page_size`), so whoever claims it next
  starts there (`remember`).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict, deque
from uuid import UUID

from core.github.queries import best_page_size

GROW_AFTER = 4  # answers in a row under the target before growing again
GROWTH = 1.25
TYPICAL = 3  # answers whose median is the page's typical response time
NO_BETTER = 0.8  # a smaller page typically this slow or slower was not worth shrinking to


class PageSizes:
    def __init__(self, ceiling: int | None = None, target: float | None = None) -> None:
        self.ceiling = ceiling or best_page_size()
        self.target = target
        self._size: dict[UUID, int] = {}
        self._streak: defaultdict[UUID, int] = defaultdict(int)
        # seconds per PR of the last answers, per backfill (sizes change in between)
        self._per_pr: defaultdict[UUID, deque[float]] = defaultdict(lambda: deque(maxlen=TYPICAL))
        self._tried: dict[UUID, tuple[int, float]] = {}  # size before a shrink, its typical s
        self._floor: dict[UUID, int] = {}  # slowness alone does not shrink below this

    def get(self, key: UUID) -> int:
        return self._size.get(key, self.ceiling)

    def remember(self, key: UUID, stored: int | None) -> None:
        """Start from the size stored on the backfill, unless this process knows better."""
        if stored is not None and key not in self._size:
            self._size[key] = max(1, min(self.ceiling, stored))

    def shrink(self, key: UUID) -> int:
        """Halve (GitHub killed the query, or answered RESOURCE_LIMITS_EXCEEDED); returns the
        new size (1 means there is nothing left to shrink)."""
        self._floor.pop(key, None)
        self._tried.pop(key, None)
        return self._resize(key, max(1, self.get(key) // 2))

    def _resize(self, key: UUID, size: int) -> int:
        self._streak[key] = 0
        self._per_pr[key].clear()  # answers at the old size say little of the new one
        self._size[key] = size
        return size

    def succeeded(self, key: UUID, seconds: float = 0.0) -> int | None:
        """A page of the current size came back, its slowest answer in `seconds` (0: served
        from PRs fetched ahead, no evidence). Returns the new size when it changed."""
        size = self.get(key)
        if self.target is None:
            typical = 0.0
        elif seconds <= 0:
            return None
        else:
            recent = self._per_pr[key]
            recent.append(seconds / size)
            typical = statistics.median(recent) * size
            if len(recent) == TYPICAL and typical > self.target:
                return self._slow(key, size, typical)
        self._streak[key] += 1
        if self._streak[key] < GROW_AFTER or size >= self.ceiling:
            return None
        grown = min(self.ceiling, max(size + 1, math.floor(size * GROWTH)))
        if self.target is not None and typical * grown / size > self.target:
            return None  # the larger page would typically be over the target
        return self._resize(key, grown)

    def _slow(self, key: UUID, size: int, typical: float) -> int | None:
        """Pages of `size` typically answer in `typical` s, over the target."""
        assert self.target is not None
        tried = self._tried.pop(key, None)
        if tried is not None and tried[0] > size and typical >= NO_BETTER * tried[1]:
            self._floor[key] = tried[0]  # the smaller page is no faster: size is not the cause
            return self._resize(key, tried[0])
        smaller = min(size - 1, math.floor(size * self.target / typical))
        smaller = max(1, self._floor.get(key, 1), smaller)
        if smaller >= size:
            self._per_pr[key].clear()  # judged: the next answers judge again
            return None
        self._tried[key] = (size, typical)
        return self._resize(key, smaller)
