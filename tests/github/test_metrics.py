"""The budget tracker: newest window wins, stale in-flight answers do not, averages are true."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.github.metrics import BudgetTracker

RESET = datetime(2025, 7, 31, 21, 38, 16, tzinfo=UTC)


def test_spec_example_renders_camel_case():
    tracker = BudgetTracker()
    tracker.observe(limit=5000, remaining=4821, used=179, reset_at="2025-07-31T21:38:16Z")
    tracker.record_cost(2)
    dumped = tracker.snapshot().model_dump(by_alias=True, mode="json")
    assert dumped == {
        "remaining": 4821,
        "limit": 5000,
        "percentageUsed": 3.58,
        "averageCostPerQuery": 2.0,
        "estimatedQueriesRemaining": 2410,
        "used": 179,
        "resetAt": "2025-07-31T21:38:16Z",
        "lastCost": 2,
    }


def test_average_is_the_true_mean_over_the_window():
    tracker = BudgetTracker(window=3)
    tracker.observe(limit=5000, remaining=1000, reset_at=RESET)
    for cost in (100, 1, 1, 4):  # 100 falls out of the window
        tracker.record_cost(cost)
    snap = tracker.snapshot()
    assert snap.average_cost_per_query == 2.0
    assert snap.estimated_queries_remaining == 500
    assert snap.last_cost == 4


def test_stale_answer_from_a_concurrent_request_is_ignored():
    tracker = BudgetTracker()
    epoch = int(RESET.timestamp())
    tracker.observe_headers(
        {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "90",
            "x-ratelimit-used": "4910",
            "x-ratelimit-reset": str(epoch),
        }
    )
    tracker.observe_rate_limit(
        {"cost": 1, "limit": 5000, "remaining": 91, "used": 4909, "resetAt": RESET.isoformat()}
    )
    assert tracker.remaining == 90
    # A new window (later reset) replaces the old one even though remaining went up.
    tracker.observe_headers(
        {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "4999",
            "x-ratelimit-used": "1",
            "x-ratelimit-reset": str(epoch + 3600),
        }
    )
    assert tracker.remaining == 4999 and tracker.used == 1


def test_nothing_known_means_no_snapshot():
    assert BudgetTracker().snapshot() is None


def test_a_reset_further_than_a_window_ahead_is_believed_a_window_and_a_minute_ahead():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    tracker = BudgetTracker(now=lambda: now)
    tracker.observe(limit=5000, remaining=0, reset_at=now + timedelta(hours=5))
    assert tracker.reset_at == now + timedelta(hours=1, minutes=1)
    real = BudgetTracker(now=lambda: now)
    real.observe(limit=5000, remaining=0, reset_at=now + timedelta(minutes=59))
    assert real.reset_at == now + timedelta(minutes=59)  # a real reset is kept as it is
