"""Routing to App installations in one process: the worker against the in-process
simulator playing the App side, the real database. Fast companions of test_installations.py."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from core.backfill.registry import (
    add_repositories,
    add_routed_in_batches,
    installation_clients,
)
from core.backfill.runtime import Engine, open_engine
from core.backfill.worker import Worker, WorkerOptions
from core.config import Settings, load_settings
from core.simulator import RepoSpec, SimConfig, Simulator
from core.simulator.app import AppSpec, InstallationSpec

APP_ID = 77


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def app_simulator(key: rsa.RSAPrivateKey, repos: list[str], limit: int) -> Simulator:
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    app = AppSpec(
        APP_ID,
        public,
        (InstallationSpec.parse("1:octo"), InstallationSpec.parse("2:acme")),
        installation_limit=limit,
    )
    return Simulator(SimConfig(repos=[RepoSpec.parse(r) for r in repos], app=app, seed=5))


def app_settings(database_url: str, key: rsa.RSAPrivateKey) -> Settings:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return load_settings(
        _env_file=None,
        database_url=database_url,
        github_app_id=APP_ID,
        github_app_private_key=SecretStr(pem),
        github_graphql_url="https://sim/graphql",  # in-process transport
        min_graphql_points=2,
    )


def worker(engine: Engine, **options: object) -> Worker:
    return Worker(
        engine.store,
        engine.client,
        engine.presence,
        WorkerOptions(idle_interval=0.05, **options),  # type: ignore[arg-type]
        lanes=engine.lanes,
        credentials=engine.credentials,
    )


def states(database_url: str) -> dict[str, tuple[str, int | None, int, str | None]]:
    with psycopg.connect(database_url) as db:
        rows = db.execute(
            "SELECT r.owner || '/' || r.name, s.status, r.installation_id, s.processed_prs, "
            "s.last_error FROM repositories r JOIN progressive_backfill_state s "
            "ON s.repository_id = r.id"
        ).fetchall()
    return {name: (status, inst, done, error) for name, status, inst, done, error in rows}


async def test_repositories_added_before_routing_are_routed_by_the_worker(
    database_url: str, key: rsa.RSAPrivateKey
) -> None:
    """Registered without an installation (as before installations were routed): the worker asks
    GitHub which
    installation sees each, remembers it, works it with that installation's client; one no
    installation sees fails with the reason."""
    sim = app_simulator(key, ["octo/a:60", "acme/b:40", "nobody/c:5"], limit=5000)
    async with open_engine(app_settings(database_url, key), transport=sim.transport()) as engine:
        for owner, name in (("octo", "a"), ("acme", "b"), ("nobody", "c")):
            await engine.store.register_backfill(owner, name, 0)
        await worker(engine, until_idle=True).run()
    found = states(database_url)
    assert found["octo/a"][:3] == ("completed", 1, 60)
    assert found["acme/b"][:3] == ("completed", 2, 40)
    status, installation, _, error = found["nobody/c"]
    assert (status, installation) == ("failed", None)
    assert error is not None and "no installation of the GitHub App can see nobody/c" in error
    stats = sim.stats()
    assert stats["installations"]["1"]["points_used"] > 0
    assert stats["installations"]["2"]["points_used"] > 0
    assert stats["outcomes"].get("rate_limited", 0) == 0


async def test_an_exhausted_installation_never_idles_the_other(
    database_url: str, key: rsa.RSAPrivateKey
) -> None:
    """One slot; installation 1's budget (12 points an hour) is spent on octo/big long before
    it is done. The slot does not sit out the hour: it lets octo/big wait and completes
    installation 2's repositories with installation 2's budget."""
    sim = app_simulator(key, ["octo/big:600", "acme/x:30", "acme/y:20"], limit=12)
    async with open_engine(app_settings(database_url, key), transport=sim.transport()) as engine:
        clients = installation_clients(engine.lanes)
        # octo/big first, so it is the one claimed first.
        await add_repositories(
            engine.store, engine.client, ["octo/big"], credentials=engine.credentials,
            clients=clients,
        )  # fmt: skip
        await add_repositories(
            engine.store, engine.client, ["acme/x", "acme/y"], credentials=engine.credentials,
            clients=clients,
        )  # fmt: skip
        busy = worker(engine, concurrency=1)
        run = asyncio.create_task(busy.run())
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline and not run.done():
                found = states(database_url)
                if found["acme/x"][0] == found["acme/y"][0] == "completed":
                    break
                await asyncio.sleep(0.1)
        finally:
            busy.stop(abandon=True)
            await asyncio.gather(run, return_exceptions=True)
    found = states(database_url)
    assert found["acme/x"][:3] == ("completed", 2, 30), found
    assert found["acme/y"][:3] == ("completed", 2, 20), found
    assert found["octo/big"][0] == "active" and found["octo/big"][2] < 600, found
    stats = sim.stats()
    assert stats["installations"]["1"]["points_used"] <= 12  # never over its budget
    assert stats["outcomes"].get("rate_limited", 0) == 0


async def test_work_routed_to_an_installation_nobody_has_is_said_then_retry_routes_it(
    database_url: str, key: rsa.RSAPrivateKey, caplog: pytest.LogCaptureFixture
) -> None:
    """The App reinstalled: octo/a is still routed to installation 9, which no longer exists.
    `--until-idle` does not end as if done without a word; after a failed run is retried the
    repository is routed again (to installation 1) and completes."""
    sim = app_simulator(key, ["octo/a:30"], limit=5000)
    async with open_engine(app_settings(database_url, key), transport=sim.transport()) as engine:
        reg = await engine.store.register_backfill("octo", "a", 30, installation_id=9)
        with caplog.at_level("WARNING", logger="core.backfill.worker"):
            await worker(engine, until_idle=True).run()
        assert states(database_url)["octo/a"][:3] == ("pending", 9, 0)
        assert "1 backfill(s) left for App installations this worker has no credential for" in (
            caplog.text
        )
        # As after a run that failed: retry forgets installation 9, the worker routes it.
        assert await engine.store.fail_unreachable_backfill(reg.backfill_state_id, "gone")
        assert await engine.store.retry_backfill(reg.backfill_state_id)
        await worker(engine, until_idle=True).run()
    assert states(database_url)["octo/a"][:3] == ("completed", 1, 30)


async def test_a_probe_goes_out_per_installation_with_its_own_repositories(
    database_url: str, key: rsa.RSAPrivateKey
) -> None:
    """Four completed repositories of two installations, nothing changed: the round sends
    one probe per installation, with that installation's token and only its repositories
    (the other's would not resolve), and every repository is fresh with no walk."""
    sim = app_simulator(key, ["octo/a:3", "octo/b:2", "acme/c:4", "acme/d:1"], limit=5000)
    async with open_engine(app_settings(database_url, key), transport=sim.transport()) as engine:
        await add_repositories(
            engine.store, engine.client, ["octo/a", "octo/b", "acme/c", "acme/d"],
            credentials=engine.credentials, clients=installation_clients(engine.lanes),
        )  # fmt: skip
        await worker(engine, until_idle=True, sync_every=0).run()
        before = {k: v["points_used"] for k, v in sim.stats()["installations"].items()}
        await engine.store.request_sync()
        await worker(engine, until_idle=True, sync_only=True).run()
    after = {k: v["points_used"] for k, v in sim.stats()["installations"].items()}
    assert {k: after[k] - before[k] for k in ("1", "2")} == {"1": 1, "2": 1}
    with psycopg.connect(database_url) as db:
        rows = db.execute(
            "SELECT probe_count, sync_count, last_error, leased_by, "
            "fresh_as_of >= sync_requested_at FROM progressive_backfill_state"
        ).fetchall()
    assert rows == [(1, 0, None, None, True)] * 4


async def test_a_list_is_routed_once_per_owner_and_counted_a_hundred_a_query(
    database_url: str, key: rsa.RSAPrivateKey
) -> None:
    """`add --from FILE` with an App: an installation whose repository_selection is "all" sees
    its whole account, so one routing request serves every repository of that owner (not one
    each), and each installation's repositories are counted 100 a document with its own
    client. One no installation sees is registered failed with the reason; one missing on
    GitHub is named, not added."""
    octo = [f"octo/r{i:03}" for i in range(150)]
    acme = [f"acme/s{i:02}" for i in range(60)]
    sim = app_simulator(key, [f"{n}:3" for n in [*octo, *acme]], limit=5000)
    listed = [*octo[:70], "octo/gone", *acme, *octo[70:], "nobody/c"]
    async with open_engine(app_settings(database_url, key), transport=sim.transport()) as engine:
        assert engine.credentials is not None and engine.credentials.app is not None
        seen: list[tuple[int, int]] = []
        before = engine.credentials.app.requests_sent  # the installations listed at start
        results = await add_routed_in_batches(
            engine.store,
            engine.client,
            [tuple(n.split("/")) for n in listed],  # type: ignore[misc]
            engine.credentials,
            installation_clients(engine.lanes),
            lambda done, total: seen.append((done, total)),
        )
        routing = engine.credentials.app.requests_sent - before
    outcome = dict(results)
    assert outcome["octo/gone"] == "not found on GitHub (or not visible to the credentials in use)"
    assert seen[-1] == (len(listed), len(listed))
    # octo, acme and nobody asked once each (not 212 times); then the two installations'
    # tokens.
    assert routing <= 3 + 2, routing
    stats = sim.stats()
    assert stats["installations"]["1"]["points_used"] <= 4  # 151 repositories: 2 documents
    assert stats["installations"]["2"]["points_used"] <= 2  # 60: 1 document
    found = states(database_url)
    assert {n: found[n][:3] for n in octo} == {n: ("pending", 1, 0) for n in octo}
    assert {n: found[n][:3] for n in acme} == {n: ("pending", 2, 0) for n in acme}
    assert "octo/gone" not in found
    status, installation, _, error = found["nobody/c"]
    assert (status, installation) == ("failed", None)
    assert error is not None and f"no installation of GitHub App {APP_ID} can see nobody/c" in error
