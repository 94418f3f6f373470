"""Issue 28 item 5: after a backfill, `stats --json`, text `stats` and the detail screen's read
count review threads and review comments per repository exactly as the simulator has them,
through either transport."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.store import Store, postgres_store, supabase_store
from tests.support.harness import cli, engine_env, simulator

REPOS = ["acme/one:60", "acme/two:25"]
KINDS = ("pull_requests", "reviews", "comments", "review_threads", "review_comments")


@pytest.fixture(params=["postgres", "supabase"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def env(transport: str, cli_env: dict[str, str], database_url: str, request) -> dict[str, str]:
    if transport == "postgres":
        return cli_env
    stack = request.getfixturevalue("supabase_for")(database_url)
    out = {k: v for k, v in cli_env.items() if k != "DATABASE_URL"}
    out.update(VITE_SUPABASE_URL=stack.url, SUPABASE_SERVICE_KEY=stack.service_key)
    return out


def expected(sim: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {
        name: {
            "pull_requests": sim["prs"][name],
            "reviews": sim["reviews"][name],
            "comments": sim["comments"][name],
            "review_threads": sim["review_threads"][name],
            "review_comments": sim["review_comments"][name],
        }
        for name in (r.split(":")[0] for r in REPOS)
    }


async def open_env_store(env: dict[str, str]) -> Store:
    if "DATABASE_URL" in env:
        return await postgres_store(env["DATABASE_URL"])
    return await supabase_store(env["VITE_SUPABASE_URL"], env["SUPABASE_SERVICE_KEY"])


async def test_stats_and_the_detail_count_threads_and_review_comments(env) -> None:
    with simulator(REPOS) as sim:
        done = cli(engine_env(env, sim), "backfill", *(r.split(":")[0] for r in REPOS))
        truth = expected(sim.stats())
    assert done.returncode == 0, done.stderr
    assert all(t["review_threads"] and t["review_comments"] for t in truth.values()), truth

    shown = cli(env, "stats", "--json")
    assert shown.returncode == 0, shown.stderr
    stored = {s["repository"]: {k: s[k] for k in KINDS} for s in json.loads(shown.stdout)["stored"]}
    assert stored == truth

    text = cli(env, "stats")
    assert text.returncode == 0, text.stderr
    assert "review threads" in text.stdout and "review comments" in text.stdout
    after = text.stdout.split("Stored", 1)[1]  # the Stored table, after the Backfills one
    row = next(line for line in after.splitlines() if "acme/one" in line)
    one = truth["acme/one"]
    assert f"{one['review_threads']:,}" in row and f"{one['review_comments']:,}" in row

    # The detail screen's read: the same counts for its one repository.
    store = await open_env_store(env)
    try:
        for progress in await store.backfill_progress():
            detail = await store.backfill_detail(progress.backfill_state_id)
            assert detail is not None and detail.stored is not None
            got = detail.stored.model_dump(include=set(KINDS))
            assert got == truth[progress.repository]
    finally:
        await store.close()
