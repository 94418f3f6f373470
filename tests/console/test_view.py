"""What the panels and the event log say, from snapshots alone (no screen)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from console.format import format_duration
from console.panels.events import MAX_CHUNK_EVENTS, events_between
from console.panels.repositories import REPOSITORY_COLUMNS, repository_cells, repository_status
from console.view import build_view
from core.monitoring import StatsReport, standing
from tests.support.console_fixed import NOW, later, progress, report

REPOSITORY_NAMES = [c.name for c in REPOSITORY_COLUMNS]


pytestmark = pytest.mark.usefixtures("utc")  # times shown as UTC (tests/console/conftest.py)


def with_progress(base: StatsReport, rows: list) -> StatsReport:
    return StatsReport(base.chunks, rows, base.workers, base.budgets, base.stuck)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "—"), (-5, "0s"), (59, "59s"), (60, "1m"), (3_900, "1h 05m"), (90_000, "1d 1h")],
)
def test_format_duration(seconds, text) -> None:
    assert format_duration(seconds) == text


def test_status_names_the_budget_wait_and_the_failure() -> None:
    waiting = progress("a/b", processed=1, total=10, waiting=True)
    assert repository_status(waiting).plain == "budget → 14:42"
    failed = progress("a/b", processed=1, total=10, status="failed", error="gone")
    assert repository_status(failed).plain == "failed: gone"
    assert repository_status(progress("a/b", processed=0, total=1, leased=True)).plain == "active"


def test_a_backfill_not_advancing_says_why_and_since_when() -> None:
    """Held by a live worker, nothing new stored for 10 minutes or more: stalled,
    with the reason and the time it last advanced, in the status, the event log and JSON."""
    moving = progress("a/b", processed=5, total=10, leased=True, stalled_minutes=9)
    stalled = progress(
        "a/b", processed=5, total=10, leased=True, stalled_minutes=25, error="repeats a page"
    )
    assert repository_status(moving).plain == "active"
    assert repository_status(stalled).plain == "stalled since 14:05: repeats a page"
    base = report()
    events = [
        e.plain[9:]
        for e in events_between(with_progress(base, [moving]), with_progress(base, [stalled]), NOW)
    ]
    assert events == ["a/b: stalled since 14:05: repeats a page"]
    entry = with_progress(base, [stalled]).to_json()["progress"][0]["standing"]
    assert entry == {
        "state": "stalled",
        "why": "repeats a page",
        "since": (NOW - timedelta(minutes=25)).isoformat(),
    }
    queued = progress("a/c", processed=0, total=10, status="pending")
    assert standing(queued).why == "no worker has claimed it yet"


def test_events_for_chunks_failures_waits_and_completion() -> None:
    base = report()
    before = [progress("a/b", processed=10, total=100, chunk=1)]
    after = [
        progress(
            "a/b", processed=47, total=100, chunk=2, waiting=True, failed_chunks=1, error="502"
        )
    ]
    events = [
        e.plain[9:]
        for e in events_between(with_progress(base, before), with_progress(base, after), NOW)
    ]
    assert events == [
        "a/b: 37 PRs stored since the last look (47 of 100)",
        "a/b: a chunk failed: 502",
        "a/b: waiting for the GraphQL budget until 14:42:00",
    ]
    done = [progress("a/b", processed=100, total=100, chunk=3, status="completed")]
    events = [
        e.plain[9:]
        for e in events_between(with_progress(base, after), with_progress(base, done), NOW)
    ]
    assert events == [
        "a/b: 53 PRs stored since the last look (100 of 100)",
        "a/b: completed",
    ]


def test_many_repositories_moving_at_once_make_one_line() -> None:
    base = report()
    n = MAX_CHUNK_EVENTS + 1
    before = [progress(f"o/r{i}", processed=0, total=9, chunk=0) for i in range(n)]
    after = [progress(f"o/r{i}", processed=2, total=9, chunk=1) for i in range(n)]
    events = events_between(with_progress(base, before), with_progress(base, after), NOW)
    assert [e.plain[9:] for e in events] == [
        f"{n} repositories stored {2 * n} PRs since the last look"
    ]


def test_workers_and_stuck_chunks_coming_and_going() -> None:
    base = report()
    gone = base.workers[0].model_copy(update={"alive": False})
    later = StatsReport(
        base.chunks, base.progress, [gone, *base.workers[1:]], base.budgets, [], base.freshness
    )
    events = [e.plain[9:] for e in events_between(base, later, NOW + timedelta(seconds=2))]
    assert events == ["worker worker-a gone", "acme/legacy: chunk #18 no longer stuck"]
    back = [e.plain[9:] for e in events_between(later, base, NOW)]
    assert back == [
        "worker worker-a started",
        "acme/legacy: chunk #18 stuck for 47m (worker cron-nightly)",
    ]


def test_filter_keeps_matching_rows_only() -> None:
    view = build_view(report(), None, NOW, filter_text="ACME/")
    assert {cells[0] for cells in view.repositories.values()} == {
        "acme/api",
        "acme/web",
        "acme/legacy",
        "acme/empty",
        "acme/new",
        "acme/mono",
    }
    assert view.events == []


def test_columns_join_by_priority_and_free_text_takes_the_rest() -> None:
    from console.columns import layout_columns
    from console.panels.repositories import REPOSITORY_COLUMNS

    natural = {s.name: 11 for s in REPOSITORY_COLUMNS} | {"Status": 60, "Progress": 19}
    narrow = layout_columns(REPOSITORY_COLUMNS, natural, 74)
    assert list(narrow)[:2] == ["Repository", "Processed"]
    assert set(narrow) == {"Repository", "Processed", "ETA", "Lag", "Status"}
    assert "Chunks" not in narrow and "PRs/min" not in narrow  # the lowest priorities go
    assert sum(narrow.values()) + 2 * len(narrow) <= 74
    wide = layout_columns(REPOSITORY_COLUMNS, natural, 200)
    assert wide["Status"] == 60 and wide["Chunks"] == 11  # everything at its natural width
    mid = layout_columns(REPOSITORY_COLUMNS, natural, 130)
    assert mid["Chunks"] == 11 and mid["Processed"] == 11  # fixed columns whole
    assert sum(mid.values()) + 2 * len(mid) == 130  # the status takes what is left


@pytest.mark.parametrize("available", [76, 116])
def test_fixed_columns_are_whole_and_the_name_and_status_share_the_rest(available: int) -> None:
    """The red team: an ETA over an hour cut ("3h 1…") at 120 columns, the status having
    grown first; the name cut to 12 cells at 80 columns when the ETA and lag were empty. A
    fixed-format column is whole or absent; the name and the status share what is left,
    the status keeping room for a dated wait."""
    from console.columns import layout_columns
    from console.panels.repositories import REPOSITORY_COLUMNS

    natural = {
        "Repository": 21,  # kubernetes/kubernetes
        "Processed": 13,
        "Progress": 19,
        "PRs/min": 7,
        "ETA": len("12h 05m"),
        "Lag": 3,  # the header alone: no lag yet
        "Status": 60,  # a failure's long reason
        "Chunks": 15,
    }
    widths = layout_columns(REPOSITORY_COLUMNS, natural, available)
    assert sum(widths.values()) + 2 * len(widths) <= available
    fixed = [s.name for s in REPOSITORY_COLUMNS if not s.flexible and s.name in widths]
    assert {"Processed", "ETA", "Lag"} <= set(fixed)
    assert all(widths[name] == natural[name] for name in fixed)
    assert widths["Repository"] == 21  # whole: it needs less than its `enough`
    assert widths["Status"] >= len("budget → 8 Dec 07:40")
    empty = natural | {"ETA": 3}
    narrow = layout_columns(REPOSITORY_COLUMNS, empty, available)
    assert narrow["Repository"] == 21 and narrow["Status"] >= 20


def test_a_wait_keeps_its_time_and_beyond_a_day_its_date() -> None:
    soon = progress("a/b", processed=1, total=10, waiting=True)
    assert repository_status(soon).plain == "budget → 14:42"
    assert soon.waiting_until is not None
    far = soon.model_copy(update={"waiting_until": soon.observed_at + timedelta(days=2)})
    assert repository_status(far).plain == "budget → 1 Dec 14:30"


def test_long_text_ends_with_an_ellipsis() -> None:
    from rich.text import Text

    from console.columns import fit

    assert fit(Text("failed: repository was deleted"), 12).plain == "failed: rep…"
    assert fit(Text("short"), 12).plain == "short"


def test_lag_column_and_syncing_status_come_from_the_freshness() -> None:
    """A completed repository shows how old its data is; one being synced says so;
    one still backfilling has no lag (the backfill is the news)."""
    base = report()
    view = build_view(base, None, NOW)
    by_name = {cells[0]: cells for cells in view.repositories.values()}
    lag = REPOSITORY_NAMES.index("Lag")
    status = REPOSITORY_NAMES.index("Status")
    assert by_name["octo/react"][lag] == "17m" and str(by_name["octo/react"][status]) == "syncing"
    assert by_name["acme/empty"][lag] == "2h 00m"  # never synced: as of its backfill's start
    assert str(by_name["acme/empty"][status]) == "completed"
    assert by_name["octo/linux"][lag] == "" and by_name["acme/legacy"][lag] == ""


def test_sync_events_name_the_sync_chunks_and_the_new_freshness() -> None:
    from tests.support.console_fixed import freshness

    def state(chunk: int, processed: int, *, syncing: bool, syncs: int) -> StatsReport:
        p = progress("a/b", processed=processed, total=processed, status="completed", chunk=chunk)
        return StatsReport(
            report().chunks, [p], [], [], [], [freshness(p, syncing=syncing, syncs=syncs)]
        )

    idle = state(4, 100, syncing=False, syncs=1)
    walking = state(6, 102, syncing=True, syncs=1)
    done = state(7, 102, syncing=False, syncs=2)
    assert [e.plain[9:] for e in events_between(idle, walking, NOW)] == [
        "a/b: sync started: 2 PRs stored since the last look"
    ]
    begun = state(4, 100, syncing=True, syncs=1)
    assert [e.plain[9:] for e in events_between(idle, begun, NOW)] == ["a/b: sync started"]
    assert [e.plain[9:] for e in events_between(walking, done, NOW)] == [
        "a/b: synced, fresh as of 14:13:00",
    ]
    assert events_between(done, done, NOW) == []


@pytest.mark.parametrize("status", ["failed", "paused"])
def test_a_failed_or_paused_backfill_has_no_rate_and_no_eta(status: str) -> None:
    """Its last chunks' pace is history: no PRs/min, no ETA ("—"), in the console and in
    `stats` (both read `collect_stats`, which applies `without_pace`)."""
    from core.monitoring import without_pace

    raw = progress("a/b", processed=10, total=100, status=status, rate=50.0)
    assert raw.eta_seconds is not None and raw.prs_per_minute == 50.0
    p = without_pace(raw)
    assert p.eta_seconds is None and p.prs_per_minute == 0.0
    cells = dict(zip(REPOSITORY_NAMES, repository_cells(p), strict=True))
    assert (cells["PRs/min"], cells["ETA"]) == ("—", "—")
    active = progress("a/b", processed=10, total=100, rate=50.0)
    assert without_pace(active) == active


def test_an_idle_poll_reuses_every_row_and_the_clock_still_moves_the_status() -> None:
    """Polls that read the same rows reuse the shown rows' cells (the very tuples, so the
    table skips them by identity); a row that changed, or whose status the clock moved (a
    stall, the budget wait over) or whose lag as shown moved, is built again; and a view
    built on the shown one is the view built from nothing."""
    held = {"lease_expires_at": NOW + timedelta(hours=1)}  # its worker's lease: an hour
    base = later(report(), 0, **{"octo/linux": held})
    first = build_view(base, None, NOW)
    key = {cells[0]: k for k, cells in first.repositories.items()}

    idle = later(base, 2)
    second = build_view(idle, base, NOW + timedelta(seconds=2), shown=first)
    assert all(second.repositories[k] is first.repositories[k] for k in first.repositories)
    assert second == build_view(idle, base, NOW + timedelta(seconds=2))

    # 13 minutes on: octo/linux stored nothing since (stalled), acme/mono's lease expired
    # (idle), acme/api's wait is over, the lags grew by whole minutes; acme/new got a total.
    moved = later(base, 13 * 60, **{"acme/new": {"total_prs": 3_300}})
    third = build_view(moved, idle, NOW + timedelta(minutes=13), shown=second)
    rebuilt = {
        cells[0] for k, cells in third.repositories.items() if cells is not second.repositories[k]
    }
    assert rebuilt == {
        "octo/linux",
        "acme/mono",
        "acme/api",
        "octo/react",
        "acme/empty",
        "acme/new",
    }
    status = REPOSITORY_NAMES.index("Status")
    assert str(third.repositories[key["octo/linux"]][status]).startswith("stalled since")
    assert third == build_view(moved, idle, NOW + timedelta(minutes=13))
    # Built on the shown view, the rows it did not compare again still give their events.
    assert any("octo/linux: stalled since" in e.plain for e in third.events)


def test_once_everything_completed_no_rate_and_no_eta_remain() -> None:
    """The rows' and the header's pace only where work goes on: a backfill that completed
    still has a rate from its last chunks in SQL's window (what `backfill_progress` gives),
    and none of it is shown once every backfill is done, in the rows or in the header."""
    from tests.support.console_fixed import freshness

    rows = [
        progress(f"o/r{n}", processed=500, total=500, status="completed", rate=900.0, chunk=9)
        for n in range(3)
    ]
    assert all(p.prs_per_minute > 0 for p in rows)
    done = StatsReport(report().chunks, rows, [], [], [], [freshness(p) for p in rows])
    view = build_view(done, None, NOW)
    for cells in view.repositories.values():
        named = dict(zip(REPOSITORY_NAMES, cells, strict=True))
        assert (str(named["PRs/min"]), str(named["ETA"])) == ("—", "")
    totals = view.summary.plain.splitlines()[0]
    assert "PRs/min" not in totals and "ETA" not in totals
    assert totals.startswith("3 repos · 1,500 PRs")
    # While one of them still works, the header has the pace of that one only.
    moving = progress("o/r9", processed=100, total=400, rate=60.0, chunk=2, leased=True)
    busy = StatsReport(
        done.chunks, [*rows, moving], [], [], [], [*done.freshness, freshness(moving)]
    )
    totals = build_view(busy, None, NOW).summary.plain.splitlines()[0]
    assert "60 PRs/min" in totals and "ETA 5m" in totals
