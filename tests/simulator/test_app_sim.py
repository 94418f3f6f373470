"""The simulator plays GitHub's App side over real HTTP: the JWT checked as GitHub checks it,
the three REST endpoints in GitHub's shapes, installation tokens that expire, one budget per
installation, and repositories outside an installation's owners answered NOT_FOUND."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from core.simulator import RepoSpec, SimConfig, Simulator, serve
from core.simulator.app import (
    EXP_PAST,
    EXP_TOO_FAR,
    IAT_BAD,
    NOT_DECODED,
    AppSpec,
    InstallationSpec,
)

ROOT = Path(__file__).resolve().parents[2]
APP_ID = 4242
REPO_QUERY = "query($owner: String!, $name: String!) { repository(owner: $owner, name: $name) { nameWithOwner pullRequests(first: 1) { nodes { id } } } }"  # noqa: E501


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def app_jwt(key: rsa.RSAPrivateKey, now: float, **claims: object) -> str:
    body = {"iat": int(now) - 60, "exp": int(now) + 540, "iss": str(APP_ID), **claims}
    return jwt.encode(body, key, algorithm="RS256")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sim(key: rsa.RSAPrivateKey, clock: Clock) -> Simulator:
    app = AppSpec(
        APP_ID,
        public_pem(key),
        (
            InstallationSpec.parse("11:acme"),
            InstallationSpec.parse("22:octo,other"),
            InstallationSpec.parse("33:lone"),
        ),
        installation_limit=700,
        token_ttl=600,
    )
    repos = [RepoSpec.parse(r) for r in ("acme/api:30", "octo/web:20", "other/x:5", "nobody/y:3")]
    return Simulator(SimConfig(repos=repos, app=app, clock=clock))


@pytest.fixture
def url(sim: Simulator) -> Iterator[str]:
    with serve(sim) as base:
        yield base


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def mint(url: str, key: rsa.RSAPrivateKey, clock: Clock, installation: int) -> httpx.Response:
    return httpx.post(
        f"{url}/app/installations/{installation}/access_tokens",
        headers=bearer(app_jwt(key, clock())),
    )


def graphql(url: str, token: str, owner: str, name: str) -> httpx.Response:
    return httpx.post(
        f"{url}/graphql",
        json={"query": REPO_QUERY, "variables": {"owner": owner, "name": name}},
        headers=bearer(token),
    )


def test_installations_are_listed_in_pages_with_githubs_link_header(url, key, clock) -> None:
    first = httpx.get(f"{url}/app/installations?per_page=2", headers=bearer(app_jwt(key, clock())))
    assert first.status_code == 200
    assert [(i["id"], i["account"]["login"]) for i in first.json()] == [(11, "acme"), (22, "octo")]
    assert first.json()[0]["app_id"] == APP_ID
    assert first.json()[0]["access_tokens_url"].endswith("/app/installations/11/access_tokens")
    next_url = first.links["next"]["url"]
    assert first.links["last"]["url"].endswith("page=2")
    second = httpx.get(next_url, headers=bearer(app_jwt(key, clock())))
    assert [i["id"] for i in second.json()] == [33]
    assert "link" not in second.headers
    # Enterprise Server serves the REST API under /api/v3: the simulator does too.
    ghes = httpx.get(f"{url}/api/v3/app/installations", headers=bearer(app_jwt(key, clock())))
    assert [i["id"] for i in ghes.json()] == [11, 22, 33]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        ("other_key", NOT_DECODED),
        ("wrong_iss", NOT_DECODED),
        ("not_a_jwt", NOT_DECODED),
        ("exp_too_far", EXP_TOO_FAR),
        ("expired", EXP_PAST),
        ("iat_future", IAT_BAD),
    ],
)
def test_a_bad_jwt_is_refused_401_with_githubs_message(url, key, clock, make, message) -> None:
    now = clock()
    tokens = {
        "other_key": lambda: app_jwt(rsa.generate_private_key(65537, 2048), now),
        "wrong_iss": lambda: app_jwt(key, now, iss=str(APP_ID + 1)),
        "not_a_jwt": lambda: "not-a-jwt",
        "exp_too_far": lambda: app_jwt(key, now, exp=int(now) + 660),
        "expired": lambda: app_jwt(key, now, iat=int(now) - 700, exp=int(now) - 5),
        "iat_future": lambda: app_jwt(key, now, iat=int(now) + 30),
    }
    answer = httpx.post(f"{url}/app/installations/11/access_tokens", headers=bearer(tokens[make]()))
    assert answer.status_code == 401
    assert answer.json()["message"] == message
    assert answer.json()["documentation_url"] == "https://docs.github.com/rest"
    assert httpx.get(f"{url}/app/installations").status_code == 401  # no JWT at all


def test_an_installation_token_has_githubs_shape_and_expires_after_its_ttl(
    url, key, clock, sim
) -> None:
    minted = mint(url, key, clock, 11)
    assert minted.status_code == 201
    body = minted.json()
    assert body["token"].startswith("ghs_")
    assert body["expires_at"].endswith("Z")
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00")).timestamp()
    assert clock() + 598 <= expires <= clock() + 600
    assert mint(url, key, clock, 99).status_code == 404
    token = body["token"]
    assert graphql(url, token, "acme", "api").json()["data"]["repository"]["nameWithOwner"] == (
        "acme/api"
    )
    clock.now += 600  # its hour (here ten minutes) is over
    expired = graphql(url, token, "acme", "api")
    assert expired.status_code == 401
    assert expired.json()["message"] == "Bad credentials"
    assert graphql(url, "ghs_" + "0" * 36, "acme", "api").status_code == 401  # never issued
    assert graphql(url, mint(url, key, clock, 11).json()["token"], "acme", "api").is_success
    assert sim.stats()["installations"]["11"]["tokens_issued"] == 2


def test_a_token_sees_only_its_installations_owners(url, key, clock) -> None:
    token = mint(url, key, clock, 22).json()["token"]  # octo and other
    assert graphql(url, token, "octo", "web").json()["data"]["repository"] is not None
    assert graphql(url, token, "other", "x").json()["data"]["repository"] is not None
    hidden = graphql(url, token, "acme", "api").json()
    assert hidden["data"] == {"repository": None}
    assert hidden["errors"][0]["type"] == "NOT_FOUND"
    assert hidden["errors"][0]["message"] == (
        "Could not resolve to a Repository with the name 'acme/api'."
    )
    # The node id of a PR it cannot see is as unknown as a made-up one.
    acme = mint(url, key, clock, 11).json()["token"]
    pr_id = graphql(url, acme, "acme", "api").json()["data"]["repository"]["pullRequests"]
    node_id = pr_id["nodes"][0]["id"]
    answer = httpx.post(
        f"{url}/graphql",
        json={"query": "query($id: ID!) { node(id: $id) { id } }", "variables": {"id": node_id}},
        headers=bearer(token),
    ).json()
    assert answer["data"] == {"node": None}
    assert answer["errors"][0]["type"] == "NOT_FOUND"


def test_repository_installation_names_the_installation_or_404(url, key, clock) -> None:
    def lookup(owner: str, name: str) -> httpx.Response:
        return httpx.get(
            f"{url}/repos/{owner}/{name}/installation", headers=bearer(app_jwt(key, clock()))
        )

    found = lookup("other", "x")
    assert found.status_code == 200
    assert (found.json()["id"], found.json()["account"]["login"]) == (22, "octo")
    assert lookup("nobody", "y").status_code == 404  # exists, no installation sees it
    assert lookup("acme", "missing").status_code == 404
    assert lookup("acme", "api").json()["id"] == 11


def test_all_tokens_of_an_installation_share_its_budget(url, key, clock, sim) -> None:
    one, two = (mint(url, key, clock, 11).json()["token"] for _ in range(2))
    assert one != two
    first = graphql(url, one, "acme", "api")
    second = graphql(url, two, "acme", "api")
    assert first.headers["x-ratelimit-limit"] == "700"
    used = int(first.headers["x-ratelimit-used"])
    assert int(second.headers["x-ratelimit-used"]) == 2 * used
    other = graphql(url, mint(url, key, clock, 22).json()["token"], "octo", "web")
    assert int(other.headers["x-ratelimit-used"]) == used  # a budget of its own
    stats = httpx.get(f"{url}/_sim/stats").json()
    assert stats["installations"]["11"]["points_used"] == 2 * used
    assert stats["installations"]["11"]["requests"] == 2
    assert stats["installations"]["22"]["points_used"] == used
    assert stats["installations"]["33"]["points_used"] == 0
    assert stats["installations"]["22"]["owners"] == ["octo", "other"]
    assert stats["tokens"] == {}  # no personal token was used


def test_token_ttl_is_divided_by_the_time_scale(key) -> None:
    clock = Clock()
    app = AppSpec(APP_ID, public_pem(key), (InstallationSpec.parse("1:acme"),), token_ttl=3600)
    config = SimConfig(repos=[RepoSpec.parse("acme/api:3")], app=app, clock=clock)
    from core.simulator.config import apply_profile

    sim = Simulator(apply_profile(config, "default", time_scale=60))
    with serve(sim) as url:
        expires = mint(url, key, clock, 1).json()["expires_at"]
    at = datetime.fromisoformat(expires.replace("Z", "+00:00")).timestamp()
    assert clock() + 58 <= at <= clock() + 60


def _simulate(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "console.cli", "simulate", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_simulate_command_plays_the_app(key, tmp_path: Path) -> None:
    pem = tmp_path / "app.pub.pem"
    pem.write_bytes(public_pem(key))
    proc = _simulate(
        "--port", "0", "--repo", "acme/api:12", "--app-id", str(APP_ID),
        "--app-public-key", str(pem), "--installation", "5:acme", "--installation", "6:octo",
        "--installation-limit", "900", "--token-ttl", "120",
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip().removeprefix("listening on ")
        now = time.time()
        listed = httpx.get(f"{url}/app/installations", headers=bearer(app_jwt(key, now)))
        assert [i["id"] for i in listed.json()] == [5, 6]
        token = mint(url, key, Clock(), 5).json()["token"]
        answer = graphql(url, token, "acme", "api")
        assert answer.headers["x-ratelimit-limit"] == "900"
        assert httpx.get(f"{url}/_sim/stats").json()["installations"]["5"]["requests"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_simulate_app_flags_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = _simulate("--app-id", "1", "--installation", "5:acme")
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 2 and "go together" in err.strip().splitlines()[-1]
    proc = _simulate("--installation", "acme")
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 2 and "ID:OWNER" in err
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    proc = _simulate("--app-id", "1", "--app-public-key", str(bad), "--installation", "5:a")
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 2 and "is not a PEM public key" in err
