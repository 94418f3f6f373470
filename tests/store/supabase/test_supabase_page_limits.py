"""A page too large for the gateway in front of PostgREST (HTTP 413).

It used to leave its chunk `processing` and the worker looping. The page is split at its
middle into several chunks (each one transaction, the cursor moving only with the last), and
a PR too large on its own is recorded as refused; the backfill completes with the gap shown.
"""

from __future__ import annotations

from core.backfill.registry import add_repositories
from core.backfill.runtime import open_engine
from core.config import load_settings
from core.simulator import RepoSpec
from tests.support.answers import run, sim_for, state
from tests.support.supabase_stack import SupabaseStack


async def test_a_page_over_the_gateways_limit_is_split_and_a_huge_pr_refused(
    supabase: SupabaseStack, db
) -> None:
    sim = sim_for(RepoSpec("o", "fat", 60))
    sim.override_pull_request("o/fat", 30, body="x" * 400_000)  # over the limit alone
    assert supabase.proxy is not None
    supabase.proxy.max_body = 390_000  # only PR 30 is over it alone
    settings = load_settings(
        supabase_url=supabase.url,
        supabase_service_key=supabase.service_key,
        github_token="simulator-token",
        github_graphql_url="https://sim/graphql",
    )
    async with open_engine(settings, transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, ["o/fat"])
        await run(engine)

    row = state(db)["o/fat"]
    assert (row["status"], row["stored"], row["processing"]) == ("completed", 59, 0)
    refused = db.execute("SELECT number, error FROM pull_request_failures").fetchall()
    assert len(refused) == 1 and "too large (HTTP 413)" in refused[0]["error"]
    chunks = db.execute(
        "SELECT chunk_number, pr_count FROM backfill_chunks WHERE status = 'completed' "
        "ORDER BY chunk_number"
    ).fetchall()
    numbers = [c["chunk_number"] for c in chunks]
    assert numbers == list(range(1, len(numbers) + 1))  # dense, one per split part
    assert sum(c["pr_count"] for c in chunks) == 59
    assert row["failed"] == 0
    # Split parts before the last store their half without moving the cursor.
    held = db.execute(
        "SELECT count(*) AS n FROM backfill_chunks WHERE status = 'completed' "
        "AND cursor_after IS NOT DISTINCT FROM cursor_before AND pr_count > 0"
    ).fetchone()["n"]
    assert held >= 1
