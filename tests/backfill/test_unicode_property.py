"""Property: whatever text GitHub puts in whatever field, every PR ends stored or refused
and named - never lost silently, never failing its page.

Arbitrary Unicode (lone surrogates, non-characters, U+0000, astral characters, strings of
thousands of characters, bytes that are not UTF-8) goes into every text field the product
stores - a PR's title, body, state, branch names, URL and id; its author's login, type and
avatar; its reviews' and comments' bodies, states, URLs and authors; its labels - of PRs at
random positions in the page, among them one long enough to need follow-ups (which carry
the text too), through a proxy in front of the simulator (tests/support/hostile_proxy.py).
A backfill, then a sync of changed PRs, through psycopg and PostgREST. Afterwards the
database holds every PR GitHub lists, or its refusal with its number; no chunk failed; the
backfill completed and the sync finished; text is stored as sent but for the characters the
store cannot hold, each one U+FFFD.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.rows import dict_row

from core.backfill.registry import add_repositories
from core.backfill.runtime import open_engine
from core.backfill.worker import Worker, WorkerOptions
from core.config import load_settings
from core.simulator import RepoSpec, SimConfig, Simulator
from core.storable import storable_text
from tests.support.databases import create_database, drop_database
from tests.support.hostile_proxy import FIELDS, NOT_UTF8, PLACES, HostileProxy, Injection
from tests.support.worker_runs import settings as psycopg_settings

REPO = "o/unicode"
PRS = 110  # seed 1: some PRs need follow-ups (checked by `targets`)

ODD = [
    "\x00",
    "\ud800",  # a lone high surrogate
    "\udfff",  # a lone low surrogate
    "\ud83d",  # half an emoji
    "\ufffe",
    "\uffff",
    "\ufdd0",  # non-characters
    "\U0010ffff",
    "\U0001f600",
    "\u202e",  # right-to-left override
    "\\u0000",  # the escape as text, not a NUL
    "'\";--",
    NOT_UTF8,  # bytes that are not UTF-8 in the answer
]
SOME = st.text(st.characters(exclude_categories=()), max_size=12)
PIECE = st.one_of(
    SOME,
    st.sampled_from(ODD),
    st.builds(lambda c, n: c * n, st.sampled_from(["x", "é", "\U0001f600", "\x00"]),
              st.integers(1_000, 6_000)),
)  # fmt: skip
TEXT = st.lists(PIECE, min_size=1, max_size=4).map("".join)


def targets(sim: Simulator) -> list[int]:
    """PRs of the first page, of later pages, and ones whose reviews or comments need
    follow-ups (their text is then in follow-up answers too)."""
    repo = sim.world.repos[0]
    long = [
        repo.pull_request(i)["number"]
        for i in range(repo.count)
        if max(repo.pull_request(i)["_counts"]) > 100
    ]
    assert long, "the repository needs a PR with follow-ups"
    return [*long, repo.number(0), repo.number(3), repo.number(40), repo.number(repo.count - 1)]


def injections(numbers: list[int]):
    return st.lists(
        st.builds(
            Injection,
            number=st.sampled_from(numbers),
            field=st.sampled_from(list(FIELDS)),
            text=TEXT,
            place=st.sampled_from(PLACES),
        ),
        min_size=1,
        max_size=6,
    )


async def walk(engine, **options: Any) -> Worker:
    worker = Worker(
        engine.store,
        engine.client,
        engine.presence,
        WorkerOptions(
            until_idle=True, idle_interval=0.05, max_runtime=120, sync_every=0, **options
        ),
    )
    await worker.run()
    return worker


def check(url: str, sim: Simulator, *, after_sync: bool) -> dict[int, str]:
    """The property, in the database: every PR GitHub lists stored or refused and named; no
    chunk failed; text without a character the store cannot hold. Returns stored titles."""
    with psycopg.connect(url, row_factory=dict_row) as db:
        state = db.execute(
            "SELECT status, processed_prs, total_prs, sync_cursor, sync_count "
            "FROM progressive_backfill_state"
        ).fetchone()
        chunks = db.execute(
            "SELECT status, error FROM backfill_chunks WHERE status <> 'completed'"
        ).fetchall()
        stored = {
            r["number"]: r["title"]
            for r in db.execute("SELECT number, title FROM pull_requests").fetchall()
        }
        refused = db.execute("SELECT github_id, number, error FROM pull_request_failures")
        refused_rows = refused.fetchall()
    assert chunks == [], chunks  # no page failed, none left processing
    assert state["status"] == "completed", state
    if after_sync:
        assert state["sync_cursor"] is None and state["sync_count"] == 1, state
    listed = {pr["number"] for pr in sim.truth(REPO)["pull_requests"]}
    named = {r["number"] for r in refused_rows}
    assert all(r["error"] for r in refused_rows)
    lost = listed - set(stored) - named
    assert not lost, (sorted(lost), refused_rows)  # never lost silently
    assert len(stored) + len(refused_rows) >= len(listed)
    return stored


def expected_title(number: int, original: str, found: list[Injection]) -> str:
    text = original
    for injection in found:
        if injection.field == "title" and injection.number == number:
            text = injection.mixed(text)
    # Each byte that is not UTF-8 arrives as one lone surrogate: one U+FFFD each.
    return storable_text(text.replace(NOT_UTF8, "\udcc0\udc80"))


async def scenario(url_settings, url: str, found: list[Injection]) -> None:
    sim = Simulator(SimConfig(repos=[RepoSpec("o", "unicode", PRS)], seed=1))
    proxy = HostileProxy(sim, found)
    original = {pr["number"]: pr["title"] for pr in sim.truth(REPO)["pull_requests"]}
    async with open_engine(url_settings, transport=proxy) as engine:
        await add_repositories(engine.store, engine.client, [REPO])
        await walk(engine)
        stored = check(url, sim, after_sync=False)
        for number, title in stored.items():
            assert title == expected_title(number, original[number], found), ascii(title)
        sim.evolve(REPO, changed=12, new=3, seed=5)
        await engine.store.request_sync()
        await walk(engine, sync_only=True)
    check(url, sim, after_sync=True)


@pytest.fixture(scope="module")
def sim_targets() -> list[int]:
    return targets(Simulator(SimConfig(repos=[RepoSpec("o", "unicode", PRS)], seed=1)))


PROPERTY = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,  # the same examples every run: a failure is reproducible
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.slow
@PROPERTY
@given(data=st.data())
def test_any_text_in_any_field_through_psycopg(data, pg_admin_url, template_db, sim_targets):
    found = data.draw(injections(sim_targets))
    url = create_database(pg_admin_url, template_db)
    try:
        asyncio.run(scenario(psycopg_settings(url), url, found))
    finally:
        drop_database(pg_admin_url, url)


@pytest.mark.slow
@settings(PROPERTY, max_examples=5)
@given(data=st.data())
def test_any_text_in_any_field_through_postgrest(
    data, pg_admin_url, supabase_template, supabase_for, sim_targets
):
    found = data.draw(injections(sim_targets))
    url = create_database(pg_admin_url, supabase_template)
    try:
        stack = supabase_for(url)
        url_settings = load_settings(
            supabase_url=stack.url,
            supabase_service_key=stack.service_key,
            github_token="simulator-token",
            github_graphql_url="https://sim/graphql",
        )
        asyncio.run(scenario(url_settings, url, found))
    finally:
        drop_database(pg_admin_url, url)
