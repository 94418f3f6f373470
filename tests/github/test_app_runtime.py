"""A process configured with a GitHub App gets one client (lane) per installation, each with
its own budget published under the installation's fingerprint, never under a token's; a
single GITHUB_TOKEN keeps its one client and its fingerprint as before."""

from __future__ import annotations

import psycopg
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from core.backfill.runtime import open_engine
from core.config import load_settings
from core.secrets import fingerprint
from core.simulator import RepoSpec, SimConfig, Simulator, serve
from core.simulator.app import AppSpec, InstallationSpec


async def test_open_engine_gives_one_lane_per_installation(database_url: str) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    app = AppSpec(
        5,
        public,
        (InstallationSpec.parse("1:acme"), InstallationSpec.parse("2:octo")),
        installation_limit=3000,
    )
    sim = Simulator(
        SimConfig(repos=[RepoSpec.parse("acme/a:5"), RepoSpec.parse("octo/b:7")], app=app)
    )
    with serve(sim) as url:
        settings = load_settings(
            database_url=database_url,
            github_app_id=5,
            github_app_private_key=pem,
            github_graphql_url=f"{url}/graphql",
            min_graphql_points=0,
        )
        async with open_engine(settings) as engine:
            assert [lane.credential.name for lane in engine.lanes] == [
                "installation 1 (acme)",
                "installation 2 (octo)",
            ]
            assert engine.client is engine.lanes[0].client
            assert engine.credentials is not None
            for lane, (owner, name) in zip(
                engine.lanes, [("acme", "a"), ("octo", "b")], strict=True
            ):
                assert await engine.credentials.installation_for(owner, name) == (
                    lane.credential.installation_id
                )
                await lane.client.repository(owner, name)
                assert lane.presence.token_fingerprint == lane.credential.fingerprint
                await lane.presence.flush()
        token_settings = load_settings(
            database_url=database_url,
            github_token="plain-token-for-runtime",
            github_graphql_url=f"{url}/graphql",
        )
        async with open_engine(token_settings) as engine:
            assert len(engine.lanes) == 1
            assert engine.client.token_fingerprint == fingerprint("plain-token-for-runtime")
    with psycopg.connect(database_url) as conn:
        rows = dict(conn.execute('SELECT token_fingerprint, "limit" FROM github_rate_limits'))
    assert rows == {"installation:1": 3000, "installation:2": 3000}
    assert sim.stats()["installations"]["2"]["requests"] >= 1
