"""A failed or paused backfill has no rate and no ETA, in `collect_stats` (the console) and
in `stats --json`, though the database's rate window still holds its last chunks."""

from __future__ import annotations

import json

from core.monitoring import collect_stats
from core.store import Store
from tests.support.harness import cli
from tests.support.store_rows import pull_request


async def _moved_then_stopped(store: Store, name: str, *, fail: bool) -> None:
    """A backfill that stored a page of 40 PRs a moment ago (so the database computes a
    rate), then failed or was paused."""
    reg = await store.register_backfill("octo", name, 400)
    lease = await store.claim_backfill("w1", lease_seconds=120, only=[reg.backfill_state_id])
    assert lease is not None
    chunk = await store.start_chunk(lease, "w1")
    assert chunk is not None
    page = [pull_request(n, prefix=name) for n in range(1, 41)]
    await store.commit_chunk(chunk, page, cursor_after="c40", has_next_page=True, total_prs=400)
    if fail:
        assert await store.fail_backfill(lease, "GitHub refused the token")
    else:
        await store.release(lease)
        assert await store.pause_backfill(reg.backfill_state_id)


async def test_failed_and_paused_backfills_have_no_rate_and_no_eta(
    store: Store, cli_env: dict[str, str]
) -> None:
    await _moved_then_stopped(store, "failed", fail=True)
    await _moved_then_stopped(store, "paused", fail=False)
    await store.register_backfill("octo", "moving", 400)
    raw = {p.repository: p for p in await store.backfill_progress()}
    assert raw["octo/failed"].prs_per_minute > 0 and raw["octo/failed"].eta_seconds is not None
    assert raw["octo/paused"].prs_per_minute > 0 and raw["octo/paused"].eta_seconds is not None

    report = await collect_stats(store)
    shown = {p.repository: p for p in report.progress}
    for name in ("octo/failed", "octo/paused"):
        assert (shown[name].prs_per_minute, shown[name].eta_seconds) == (0.0, None), name
        assert shown[name].processed_prs == 40  # the rest of the row is as stored

    result = cli(cli_env, "stats", "--json")
    assert result.returncode == 0, result.stderr
    progress = {p["repository"]: p for p in json.loads(result.stdout)["progress"]}
    for name in ("octo/failed", "octo/paused"):
        assert progress[name]["eta_seconds"] is None and progress[name]["prs_per_minute"] == 0

    text = cli({**cli_env, "COLUMNS": "200"}, "stats")
    assert text.returncode == 0, text.stderr
    rows: dict[str, str] = {}
    for line in text.stdout.splitlines():  # the progress table's row: the first naming it
        if "octo/" in line:
            rows.setdefault(line.split()[1], line)
    for name in ("octo/failed", "octo/paused"):
        # progress, %, PRs/min, ETA: neither a rate nor an ETA, each shown as "—"
        assert rows[name].split("│")[4].strip() == "—", rows[name]
        assert rows[name].split("│")[5].strip() == "—", rows[name]
