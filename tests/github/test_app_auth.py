"""Our side of GitHub App authentication, against the simulator over real HTTP: the JWT is
accepted (or refused with a clear error), installations are found and routed, tokens are
refreshed before they expire and once on a 401 so no chunk sees one, several accounts' tokens
keep separate budgets, and no key or token leaks into output, logs, reprs or errors."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from core.config import load_settings
from core.errors import ConfigError
from core.github.app import AppAuthError
from core.github.client import GitHubClient
from core.github.credentials import (
    InstallationToken,
    NotVisible,
    StaticToken,
    load_credentials,
)
from core.github.errors import AuthenticationError
from core.simulator import RepoSpec, SimConfig, Simulator, serve
from core.simulator.app import AppSpec, InstallationSpec

APP_ID = 777


class Clock:
    """The simulator's and our clock, moved by the test (sleeps move it too)."""

    def __init__(self, start: float = 1_780_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_sim(key: rsa.RSAPrivateKey, clock: Clock, *, ttl: float = 3600) -> Simulator:
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    app = AppSpec(
        APP_ID,
        public,
        (InstallationSpec.parse("11:acme"), InstallationSpec.parse("22:octo")),
        installation_limit=100_000,
        token_ttl=ttl,
    )
    repos = [RepoSpec.parse(r) for r in ("acme/api:300", "octo/web:40", "nobody/x:5")]
    return Simulator(SimConfig(repos=repos, app=app, clock=clock, seed=3))


@pytest.fixture
def sim(key: rsa.RSAPrivateKey, clock: Clock) -> Simulator:
    return make_sim(key, clock)


@pytest.fixture
def url(sim: Simulator) -> Iterator[str]:
    with serve(sim) as base:
        yield base


def app_settings(url: str, key: rsa.RSAPrivateKey, **more: object):
    return load_settings(
        github_app_id=APP_ID,
        github_app_private_key=private_pem(key),
        github_graphql_url=f"{url}/graphql",
        **more,
    )


def client_for(credential, url: str, clock: Clock) -> GitHubClient:
    return GitHubClient(
        url=f"{url}/graphql",
        credential=credential,
        min_remaining=0,
        clock=clock,
        sleep=clock.sleep,
    )


async def walk(client: GitHubClient, owner: str, name: str, between=None) -> int:
    """Every page of a repository's PRs, as a chunk walks them; `between` runs between pages."""
    after, seen = None, 0
    while True:
        page = await client.fetch_pull_requests_page(owner, name, after=after, page_size=10)
        seen += len(page.pull_requests)
        after = page.end_cursor
        if not page.has_next_page:
            return seen
        if between is not None:
            between()


async def test_installations_are_discovered_and_repositories_routed(url, key, clock) -> None:
    async with await load_credentials(app_settings(url, key), clock=clock) as credentials:
        assert [c.name for c in credentials.all] == [
            "installation 11 (acme)",
            "installation 22 (octo)",
        ]
        assert [c.fingerprint for c in credentials.all] == ["installation:11", "installation:22"]
        assert await credentials.installation_for("acme", "api") == 11
        assert await credentials.installation_for("octo", "web") == 22
        assert credentials.by_installation(22).installation_id == 22
        with pytest.raises(NotVisible, match="no installation of the GitHub App can see nobody/x"):
            await credentials.installation_for("nobody", "x")
    only = app_settings(url, key, github_app_installation_ids="22")
    async with await load_credentials(only, clock=clock) as credentials:
        assert [c.installation_id for c in credentials.all] == [22]
        with pytest.raises(NotVisible, match="GITHUB_APP_INSTALLATION_IDS leaves it out"):
            await credentials.installation_for("acme", "api")
    with pytest.raises(ConfigError, match="does not have: 99"):
        await load_credentials(
            app_settings(url, key, github_app_installation_ids="11,99"), clock=clock
        )


@pytest.mark.parametrize(
    ("case", "hint"),
    [
        ("other_key", "private key is one of that App's"),
        ("wrong_app_id", "check that GITHUB_APP_ID"),
        ("exp_too_far", "or the JWT lives too long"),
    ],
)
async def test_a_refused_jwt_is_one_clear_error(url, key, clock, case, hint, monkeypatch) -> None:
    settings = app_settings(url, key)
    if case == "other_key":
        settings = app_settings(url, rsa.generate_private_key(65537, 2048))
    elif case == "wrong_app_id":
        settings = app_settings(url, key).model_copy(update={"github_app_id": APP_ID + 1})
    else:  # 11 minutes: GitHub allows 10
        monkeypatch.setattr("core.github.app.JWT_LIFETIME", 660)
    with pytest.raises(AppAuthError) as caught:
        await load_credentials(settings, clock=clock)
    message = str(caught.value)
    assert message.startswith("GitHub refused the GitHub App (401 on GET /app/installations)")
    assert hint in message
    assert "\n" not in message


@pytest.mark.parametrize("skew", [120, -900])
async def test_a_clock_off_from_githubs_is_corrected_from_its_answer(url, key, clock, sim, skew):
    """Ahead, `exp` is over 10 minutes in GitHub's future; behind, in its past. GitHub says
    so, with its clock in `Date`: the JWT is signed again on that clock, once."""
    ours = Clock(clock.now + skew)
    async with await load_credentials(app_settings(url, key), clock=ours) as credentials:
        assert len(credentials.all) == 2
        assert await credentials.installation_for("acme", "api") == 11
    refusals = sim.stats()["app_refusals"]
    assert sum(refusals.values()) == 1  # the first request only
    assert "'Expiration time' claim ('exp')" in next(iter(refusals))


async def test_tokens_are_refreshed_before_they_expire_and_no_request_sees_a_401(
    key, clock
) -> None:
    sim = make_sim(key, clock, ttl=3600)
    with serve(sim) as url:
        async with await load_credentials(app_settings(url, key), clock=clock) as credentials:
            acme = credentials.by_installation(11)
            assert isinstance(acme, InstallationToken)
            async with client_for(acme, url, clock) as client:

                def an_hour_goes_by_in_thirty_pages() -> None:
                    clock.now += 130  # 300 PRs / 10 a page: ~65 minutes of work

                seen = await walk(client, "acme", "api", an_hour_goes_by_in_thirty_pages)
    assert seen == 300
    assert acme.refreshes >= 2  # the first token, and at least one before it expired
    stats = sim.stats()
    assert stats["outcomes"].get("401", 0) == 0  # refreshed ahead: no request was refused
    assert stats["installations"]["11"]["tokens_issued"] == acme.refreshes


async def test_a_401_to_an_installation_token_is_refreshed_once_and_retried(
    url, key, clock, sim
) -> None:
    async with await load_credentials(app_settings(url, key), clock=clock) as credentials:
        acme = credentials.by_installation(11)
        async with client_for(acme, url, clock) as client:
            expired = iter(range(3))

            def github_revokes_the_tokens() -> None:
                if next(expired, None) is not None:
                    sim.expire_installation_tokens()

            seen = await walk(client, "acme", "api", github_revokes_the_tokens)
    assert seen == 300  # every page arrived: the 401s never reached the walk
    refused = sim.stats()["outcomes"]["401"]
    assert refused >= 2  # (pages fetched ahead may share one request between revocations)
    assert isinstance(acme, InstallationToken)
    assert acme.refreshes == 1 + refused  # one new token per 401, nothing more


async def test_a_401_a_refresh_cannot_cure_stops_with_authentication_error(
    url, key, clock, sim
) -> None:
    credentials = await load_credentials(app_settings(url, key), clock=clock)
    async with credentials, client_for(credentials.by_installation(11), url, clock) as client:
        sim.app.spec.token_ttl = 1e-9  # every new token is dead on arrival
        sim.expire_installation_tokens()
        with pytest.raises(AuthenticationError, match="installation 11 \\(acme\\)"):
            await client.repository("acme", "api")
    assert sim.stats()["outcomes"]["401"] == 2  # the first try and the one retry


async def test_several_accounts_tokens_are_several_clients_with_separate_budgets(
    clock,
) -> None:
    sim = Simulator(
        SimConfig(repos=[RepoSpec.parse("acme/api:60")], clock=clock, limit=5000, seed=2)
    )
    tokens = ["first-account-token-aaaa", "second-account-token-bbbb"]
    with serve(sim) as url:
        settings = load_settings(
            github_tokens=" ,\n".join(tokens), github_graphql_url=f"{url}/graphql"
        )
        credentials = await load_credentials(settings)
        assert all(isinstance(c, StaticToken) for c in credentials.all)
        assert len({c.fingerprint for c in credentials.all}) == 2
        clients = [client_for(c, url, clock) for c in credentials.all]
        await walk(clients[0], "acme", "api")
        await clients[1].repository("acme", "api")
        used = [c.metrics.limit - c.metrics.remaining for c in clients if c.metrics]
        for client in clients:
            await client.aclose()
    stats = sim.stats()["tokens"]
    assert sorted(stats) == sorted(c.fingerprint for c in credentials.all)
    first, second = (stats[c.fingerprint] for c in credentials.all)
    assert first["points_used"] > second["points_used"] > 0
    assert used == [first["points_used"], second["points_used"]]


async def test_github_token_alone_keeps_working(clock) -> None:
    settings = load_settings(github_token="only-token-zzzz", github_graphql_url="https://x/graphql")
    credentials = await load_credentials(settings)
    assert len(credentials.all) == 1
    assert await credentials.all[0].token() == SecretStr("only-token-zzzz")
    assert await credentials.installation_for("any", "repo") is None
    assert credentials.by_installation(None) is credentials.all[0]
    client = GitHubClient("only-token-zzzz", "https://x/graphql")
    assert client.token_fingerprint == credentials.all[0].fingerprint
    await client.aclose()


async def test_no_key_or_token_appears_in_output_logs_reprs_or_errors(
    key, clock, capsys, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    sim = make_sim(key, clock, ttl=600)
    texts: list[str] = []
    with serve(sim) as url:
        settings = app_settings(url, key)
        texts += [repr(settings), str(settings), repr(settings.model_dump())]
        async with await load_credentials(settings, clock=clock) as credentials:
            texts += [repr(credentials), *(repr(c) for c in credentials.all)]
            texts += [c.name for c in credentials.all] + [repr(credentials.app)]
            async with client_for(credentials.by_installation(11), url, clock) as client:
                texts.append(repr(client))

                def expire() -> None:
                    clock.now += 200

                await walk(client, "acme", "api", expire)
                sim.expire_installation_tokens()
                await client.repository("acme", "api")
        try:
            await load_credentials(app_settings(url, rsa.generate_private_key(65537, 2048)))
        except AppAuthError as exc:
            texts += [str(exc), repr(exc)]
    captured = capsys.readouterr()
    texts += [captured.out, captured.err, caplog.text]
    texts += [r.getMessage() for r in caplog.records]
    everything = "\n".join(texts)
    tokens = list(sim.app.issued)
    assert len(tokens) >= 3
    pem_lines = [line for line in private_pem(key).splitlines() if "-----" not in line]
    for secret in tokens + pem_lines:
        assert secret not in everything
    for token in tokens:  # not even a fragment of a token
        assert token[4:20] not in everything
