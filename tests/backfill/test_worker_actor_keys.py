"""A contributor is GitHub's account, keyed by its node id: accounts that share a login (a user,
the mannequins organizations made for that person, the person's enterprise accounts, an
organization that took the login) stay apart, in a backfill and in a sync."""

from __future__ import annotations

from typing import Any

from core.backfill.registry import add_repositories
from core.backfill.runtime import open_engine
from core.simulator import RepoSpec, SimConfig, Simulator
from tests.support.sync_runs import run, sync_now
from tests.support.sync_state import sync_state
from tests.support.worker_runs import settings

REPO = "o/people"
PERSON = 42  # the simulated user whose login every account below carries


def _served_as(sim: Simulator, index: int, author: dict[str, Any]) -> None:
    sim.override_pull_request(REPO, index, author=author)


def _authors(db, numbers: list[int]) -> dict[int, tuple[str, str, str]]:
    """PR number -> (its author's github_id, type, login) as stored."""
    rows = db.execute(
        "SELECT p.number, c.github_id, c.type, c.login FROM pull_requests p "
        "JOIN contributors c ON c.id = p.author_id WHERE p.number = ANY(%s)",
        (numbers,),
    ).fetchall()
    return {r["number"]: (r["github_id"], r["type"], r["login"]) for r in rows}


def _expected(author: dict[str, Any]) -> tuple[str, str, str]:
    return author["id"], author["__typename"], author["login"]


async def test_accounts_sharing_a_login_stay_apart_in_a_backfill_and_a_sync(
    database_url: str, db
) -> None:
    sim = Simulator(SimConfig(repos=[RepoSpec("o", "people", 40)], seed=5))
    actors = sim.world.actors
    user = actors.user(PERSON)
    login = user["login"]
    # An organization that took the login once the user gave it up (a rename).
    organization = dict(actors.organization(PERSON), login=login, _shared=False)
    accounts = [
        user,
        actors.mannequin(0, PERSON),  # one organization's mannequin of that person
        actors.mannequin(1, PERSON),  # another organization's: same type, same login
        actors.enterprise_user(0, PERSON),
        organization,
    ]
    assert {a["login"] for a in accounts} == {login}
    repo = sim.world.by_name[REPO]
    first = {repo.number(i): a for i, a in zip(range(3, 3 + len(accounts)), accounts, strict=True)}
    for i, author in zip(range(3, 3 + len(accounts)), accounts, strict=True):
        _served_as(sim, i, author)

    async with open_engine(settings(database_url), transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, [REPO])
        await run(engine, sync_every=0)
        stored = _authors(db, list(first))
        assert stored == {n: _expected(a) for n, a in first.items()}
        assert len({github_id for github_id, _, _ in stored.values()}) == len(accounts)

        # GitHub moves on: changed PRs now show more accounts of that login.
        report = sim.evolve(REPO, changed=2, seed=9)
        later = [actors.mannequin(2, PERSON), actors.enterprise_user(1, PERSON)]
        changed = {}
        for number, author in zip(report["changed"], later, strict=True):
            found = repo.index_of(number)
            assert found is not None and found[0] == "pr"
            _served_as(sim, found[1], author)
            changed[number] = author
        await sync_now(engine, [sync_state(database_url, REPO)["id"]])

    assert _authors(db, list(changed)) == {n: _expected(a) for n, a in changed.items()}
    (count,) = (
        db.execute(
            "SELECT count(*) AS n FROM contributors WHERE github_id = ANY(%s)",
            ([a["id"] for a in accounts + later],),
        )
        .fetchone()
        .values()
    )
    assert count == len(accounts) + len(later)  # seven accounts, seven contributors
