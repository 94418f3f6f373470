"""`stats` and `stats --json` state the database's size and its growth per day, and how the
growth is computed: bytes per PR times the PRs stored in the last 24 hours."""

from __future__ import annotations

import json

from core.store import Store
from tests.support.harness import cli
from tests.support.store_rows import pull_request


async def test_stats_shows_the_size_and_the_growth_of_the_prs_stored(
    store: Store, cli_env: dict[str, str]
) -> None:
    reg = await store.register_backfill("octo", "sized", 400)
    lease = await store.claim_backfill("w1", lease_seconds=120, only=[reg.backfill_state_id])
    assert lease is not None
    chunk = await store.start_chunk(lease, "w1")
    assert chunk is not None
    page = [pull_request(n, prefix="sized") for n in range(1, 41)]
    await store.commit_chunk(chunk, page, cursor_after="c40", has_next_page=True, total_prs=400)

    result = cli(cli_env, "stats", "--json")
    assert result.returncode == 0, result.stderr
    size = json.loads(result.stdout)["database"]
    assert size["database_bytes"] >= size["pr_bytes"] > 0
    assert (size["prs"], size["prs_last_day"]) == (40, 40)
    assert size["bytes_per_pr"] == round(size["pr_bytes"] / 40)
    assert size["bytes_per_day"] == size["bytes_per_pr"] * 40

    text = cli({**cli_env, "COLUMNS": "200"}, "stats")
    assert text.returncode == 0, text.stderr
    line = next(line for line in text.stdout.splitlines() if line.startswith("Database"))
    assert "/day" in line and "/PR x 40 PRs stored in the last 24 h; 40 PRs in" in line, line
