"""Red team: page sizing under hostile answer times. A page is sized on the
assumption that an answer's time grows with its PRs; answers whose time does not (GitHub slow
at moments, whatever was asked) must not drive the page to one PR for good, each answer then
paying GitHub's fixed cost (and a point) for one PR."""

from __future__ import annotations

import statistics
from uuid import UUID

import pytest

from core.backfill.page_size import PageSizes
from core.backfill.worker import WorkerOptions

CEILING, TARGET = 37, 5.0


def sizes_under(times: list[float], answers: int = 300) -> list[int]:
    """The page size before each of `answers` answers whose times cycle through `times`
    seconds whatever the page's size."""
    sizes = PageSizes(ceiling=CEILING, target=TARGET)
    key = UUID(int=16)
    seen = []
    for i in range(answers):
        seen.append(sizes.get(key))
        sizes.succeeded(key, times[i % len(times)])
    return seen


@pytest.mark.parametrize("times", [[1.0, 9.0], [4.0, 9.0], [1.0, 1.0, 9.0]])
def test_slow_answers_that_do_not_follow_the_size_do_not_pin_the_page_at_one(
    times: list[float],
) -> None:
    seen = sizes_under(times)
    assert statistics.median(seen[-100:]) >= CEILING // 2, seen[-20:]


def test_answers_that_follow_the_size_settle_under_the_target() -> None:
    """The sane case (held): time in proportion to the PRs, cheap and rich pages in turn."""
    sizes = PageSizes(ceiling=CEILING, target=TARGET)
    key = UUID(int=17)
    seen = []
    for i in range(300):
        n = sizes.get(key)
        seen.append(n)
        sizes.succeeded(key, 0.5 + (0.24 if i % 2 else 0.24 / 9) * n)
    assert min(seen[-100:]) >= 12 and max(seen[-100:]) <= CEILING


def test_a_storm_of_502s_is_bounded_and_the_size_comes_back() -> None:
    """Each 502/504 halves the page; a storm takes it to 1, and answers under the target
    then grow it back to the ceiling, never past it (held)."""
    sizes = PageSizes(ceiling=CEILING, target=TARGET)
    key = UUID(int=18)
    for _ in range(WorkerOptions().max_failures_in_a_row + 5):
        sizes.shrink(key)
    assert sizes.get(key) == 1
    seen = []
    for _ in range(100):
        n = sizes.get(key)
        seen.append(n)
        sizes.succeeded(key, 0.5 + 0.1 * n)
    assert max(seen) == CEILING == seen[-1]
