"""Freshness in the console against the real engine: the Lag column after a backfill and
`POST /_sim/evolve` (time moved in the database, never slept), the sync key making the sync
due so that a worker process brings the database to `/_sim/truth`, --readonly; and the
detail screen's lease (worker, host, expiry) from a real worker holding a live lease."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.detail import DetailScreen
from console.format import format_duration
from console.local_workers import LocalWorkers
from console.widgets import KeyedTable
from tests.support.console_pilot import SIZE, refresh, rows, select, settle, wait_for
from tests.support.harness import SimServer, cli, simulator, start_worker
from tests.support.sync_state import differences, get, post

REPO = "acme/fresh"
# The backfill began this long ago (moved back in the database): the lag the column shows.
AGO = "2 hours 5 minutes 30 seconds"


@pytest.fixture(scope="module")
def evolving() -> Iterator[SimServer]:
    """A simulator of its own: `evolve` changes it, so no other test shares it."""
    with simulator([f"{REPO}:150"], seed=23) as server:
        yield server


def state(database_url: str) -> dict[str, Any]:
    found = rows(
        database_url,
        "SELECT s.*, floor(extract(epoch FROM now() - s.started_at))::bigint AS age"
        " FROM progressive_backfill_state s JOIN repositories r ON r.id = s.repository_id"
        " WHERE r.owner || '/' || r.name = %s",
        REPO,
    )
    assert len(found) == 1
    return found[0]


def cell(app: Any, repository: str, column: str) -> str:
    table = app.query_one("#repositories", KeyedTable)
    names = [spec.name for spec in table.specs]
    for key in table.rows:
        text = table.row_text(key.value)
        if text[0] == repository:
            return text[names.index(column)]
    raise AssertionError(f"{repository} not in the table")


@pytest.fixture
def backfilled(
    worker_env: dict[str, str], evolving: SimServer, database_url: str
) -> Iterator[dict[str, str]]:
    """acme/fresh backfilled by a worker process, then changed on GitHub (8 PRs changed, 3
    new), and its backfill's start moved back in the database. Yields the workers' env."""
    env = dict(worker_env, GITHUB_GRAPHQL_URL=evolving.graphql_url)
    added = cli(env, "add", REPO)
    assert added.returncode == 0, added.stderr
    done = cli(env, "worker", "--until-idle", "--sync-every", "0", timeout=180)
    assert done.returncode == 0, done.stderr
    assert state(database_url)["status"] == "completed"
    truth = get(f"{evolving.url}/_sim/truth?repo={REPO}")
    assert differences(database_url, truth) == []
    post(f"{evolving.url}/_sim/evolve", {"repo": REPO, "changed": 8, "new": 3, "seed": 3})
    truth = get(f"{evolving.url}/_sim/truth?repo={REPO}")
    assert len(differences(database_url, truth)) >= 8  # the database is behind GitHub now
    # Its completion stays recent: with the workers' default --sync-every (15 min) no sync
    # is due, so only a "sync now" makes one happen.
    rows(
        database_url,
        "UPDATE progressive_backfill_state SET started_at = now() - %s::interval RETURNING 1",
        AGO,
    )
    yield env


async def test_lag_column_then_the_sync_key_brings_the_database_to_githubs_truth(
    make_app, backfilled: dict[str, str], evolving: SimServer, database_url: str, tmp_path: Path
) -> None:
    workers = LocalWorkers(tmp_path / "sync-logs", env=backfilled)
    app = make_app(local_workers=workers)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await refresh(app, pilot)
            before = state(database_url)
            # Never synced: fresh as of the backfill's start, 2h 05m ago by the database.
            assert cell(app, REPO, "Lag") == format_duration(before["age"]) == "2h 05m"
            assert cell(app, REPO, "Status") == "completed"
            assert before["sync_requested_at"] is None and before["sync_count"] == 0

            await select(app, pilot, REPO)
            await pilot.press("n")
            await settle(app, pilot, "actions")
            await refresh(app, pilot)
            assert state(database_url)["sync_requested_at"] is not None
            assert f"{REPO}: sync requested: due now" in [line[9:] for line in app.event_lines]
            assert cell(app, REPO, "Status") == "sync requested"
            assert state(database_url)["sync_count"] == 0, "the console itself syncs nothing"

            await pilot.press("w")  # a worker process claims the due sync
            await settle(app, pilot, "actions")
            wait_for(lambda: state(database_url)["sync_count"] == 1, 120, "the sync")
            truth = get(f"{evolving.url}/_sim/truth?repo={REPO}")
            assert differences(database_url, truth) == []
            after = state(database_url)
            assert after["processed_prs"] == after["total_prs"] == 153

            await refresh(app, pilot)
            assert app.report is not None
            fresh = app.report.freshness_of(after["id"])
            assert fresh is not None and fresh.lag_seconds is not None
            assert fresh.lag_seconds < 120 and fresh.syncs == 1
            assert cell(app, REPO, "Lag") == format_duration(fresh.lag_seconds)
            assert cell(app, REPO, "Status") == "completed"
            events = [line[9:] for line in app.event_lines]
            assert any(
                e.startswith(f"{REPO}: sync") and "PRs stored since the last look" in e
                for e in events
            ), events
            assert any(e.startswith(f"{REPO}: synced, fresh as of ") for e in events), events

            await pilot.press("enter")
            await settle(app, pilot, "detail")
            assert isinstance(app.screen, DetailScreen)
            summary = str(app.screen.query_one("#detail-state").render())
            assert f"lag {format_duration(fresh.lag_seconds)}" in summary
            assert "1 sync, last" in summary
            kinds = {chunk[1] for chunk in app.screen.chunks_text()}
            assert kinds == {"backfill", "sync"}
    finally:
        workers.stop_all(kill=True)


async def test_readonly_hides_the_sync_key_and_changes_nothing(
    make_app, backfilled: dict[str, str], evolving: SimServer, database_url: str
) -> None:
    before = state(database_url)
    app = make_app(readonly=True)
    async with app.run_test(size=SIZE) as pilot:
        await refresh(app, pilot)
        assert cell(app, REPO, "Lag") == "2h 05m"
        enabled = {b.binding.key for b in app.active_bindings.values() if b.enabled}
        assert "n" not in enabled
        await pilot.press("n")
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot, "detail")
        assert isinstance(app.screen, DetailScreen)
        await pilot.press("n")
        await settle(app, pilot)
        assert not any("sync" in line for line in app.event_lines)
    after = state(database_url)
    assert after["sync_requested_at"] is None and after["sync_count"] == 0
    assert {k: v for k, v in after.items() if k != "age"} == {
        k: v for k, v in before.items() if k != "age"
    }
    # Nothing was made due: a worker with the default interval finds no sync to do.
    idle = cli(backfilled, "worker", "--until-idle", timeout=120)
    assert idle.returncode == 0, idle.stderr
    assert state(database_url)["sync_count"] == 0
    truth = get(f"{evolving.url}/_sim/truth?repo={REPO}")
    assert differences(database_url, truth) != []


async def test_detail_shows_the_live_lease_of_a_running_worker(
    make_app, worker_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    """Not fixed data: a worker process holds the lease (a slow GitHub keeps it working),
    and the detail screen names it, its host, and when the lease expires."""
    with simulator(["acme/slow:3000"], extra=("--latency-ms", "300")) as slow:
        env = dict(worker_env, GITHUB_GRAPHQL_URL=slow.graphql_url)
        assert cli(env, "add", "acme/slow").returncode == 0
        worker = start_worker(
            env, "--id", "live-worker", "--lease-seconds", "90", log=tmp_path / "live.log"
        )
        try:
            wait_for(
                lambda: rows(
                    database_url,
                    "SELECT 1 FROM progressive_backfill_state WHERE leased_by = 'live-worker'"
                    " AND lease_expires_at > now() + interval '30 seconds'",
                ),
                60,
                "the worker's lease",
            )
            app = make_app(readonly=True)
            async with app.run_test(size=SIZE) as pilot:
                await refresh(app, pilot)
                await pilot.press("enter")
                await settle(app, pilot, "detail")
                assert isinstance(app.screen, DetailScreen)
                detail = app.screen.detail
                assert detail is not None and worker.poll() is None
                assert detail.leased_by == "live-worker"
                assert detail.lease_host == socket.gethostname()
                assert detail.lease_expires_at is not None
                left = (detail.lease_expires_at - detail.observed_at).total_seconds()
                assert 0 < left <= 90
                summary = str(app.screen.query_one("#detail-state").render())
                assert (
                    f"live-worker on {socket.gethostname()} · expires in {format_duration(left)}"
                    in summary
                )
        finally:
            worker.kill()
            worker.wait()
