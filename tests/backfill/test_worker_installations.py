"""Several budgets at once, end to end: real worker processes, the simulator over
HTTP playing GitHub's App side, the embedded Postgres.

Why the two-versus-one comparison is a ratio of budget windows, not a timed test: each
installation has L points per window of W seconds, and the work costs P points split evenly
between two owners (each needs more than two windows' worth; the test checks it). A worker
spends a window's points in a fraction of the window and then waits for the reset, so the run
takes about P / L
windows through one installation that sees both owners, and P / 2L through two installations
working at once, whatever the machine's speed. With P / L around ten windows, rounding to whole
windows moves the ratio by about a tenth. Each run is measured by the simulator, from its first
GitHub request to its last answer: process startup and the final idle check, the same in both
runs, only moved a wall-clock ratio towards 1 (0.55-0.58 with three multi-process tests at once
on two cores, 0.62 once in CI). Both runs are in the same test, on the same data, with the same
budget per installation; 0.6 is the issue's bound.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from psycopg.rows import dict_row

from core.embedded import postgres_bin_dir
from tests.support.harness import (
    SimServer,
    cli,
    environ_without_secrets,
    simulator,
    start_worker,
    terminate_all,
)

pytestmark = pytest.mark.slow

APP_ID = 123
OCTO = ["octo/alpha:150", "octo/beta:125"]
ACME = ["acme/gamma:150", "acme/delta:125"]
HIDDEN = "hidden/secret:40"
# Points per window and installation, and the window: 3 points a window per installation
# (MIN_GRAPHQL_POINTS=2 kept), so even on a loaded machine one worker stores what both
# installations fetch in a window well within the window (budget-bound). With 6 points (and
# twice the data) a loaded machine took longer than the window to store the two
# installations' pages: the run with two became compute-bound (ratio 0.69 once). A 2 s window
# (3 s before) kept the ratio at 0.49-0.53 with two of these tests and two busy loops at once.
LIMIT = "5"
WINDOW = "2"  # seconds
# Installation tokens live 4 s (GitHub's: an hour), far shorter than a backfill: every run
# here outlives several of them.
TOKEN_TTL = "4"


@pytest.fixture
def app_key(tmp_path: Path) -> tuple[Path, Path, str]:
    """An App's RSA key: the private PEM (0600 file, what the product reads), the public PEM
    (what the simulator verifies JWTs with), and the private key's base64 body (to look for)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private_path = tmp_path / "app.pem"
    private_path.write_bytes(private)
    private_path.chmod(0o600)
    public_path = tmp_path / "app.pub"
    public_path.write_bytes(public)
    body = "".join(private.decode().splitlines()[1:-1])
    return private_path, public_path, body


def base_env(database_url: str, tmp_path: Path, sim: SimServer, key: Path) -> dict[str, str]:
    env = environ_without_secrets()
    env.update(
        DATABASE_URL=database_url,
        BACKFILL_DATA_DIR=str(tmp_path / "data"),
        GITHUB_GRAPHQL_URL=sim.graphql_url,
        GITHUB_APP_ID=str(APP_ID),
        GITHUB_APP_PRIVATE_KEY_PATH=str(key),
        MIN_GRAPHQL_POINTS="2",
    )
    return env


@contextmanager
def app_simulator(
    repos: list[str], public_key: Path, installations: list[str]
) -> Iterator[SimServer]:
    extra = ["--app-id", str(APP_ID), "--app-public-key", str(public_key)]
    for installation in installations:
        extra += ["--installation", installation]
    extra += ["--installation-limit", LIMIT, "--window-seconds", WINDOW, "--token-ttl", TOKEN_TTL]
    with simulator(repos, seed=23, extra=extra) as sim:
        yield sim


def run_worker(env: dict[str, str], log: Path, timeout: float = 240) -> str:
    """Run one worker until idle (it must exit 0); its process listing while it ran."""
    worker = start_worker(env, "--until-idle", "--concurrency", "2", log=log)
    try:
        time.sleep(1.0)
        listing = subprocess.run(
            ["ps", "-ww", "-o", "args=", "-p", str(worker.pid)],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        worker.wait(timeout=timeout)
        assert worker.returncode == 0, log.read_text()[-3000:]
    finally:
        terminate_all([worker])
    return listing


def repository_rows(database_url: str) -> dict[str, dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=dict_row) as db:
        rows = db.execute(
            """
            SELECT r.owner || '/' || r.name AS repo, r.installation_id, s.status, s.last_error,
                   s.processed_prs,
                   (SELECT count(*) FROM pull_requests p WHERE p.repository_id = r.id) AS stored,
                   (SELECT count(*) FROM reviews v JOIN pull_requests p ON p.id = v.pull_request_id
                     WHERE p.repository_id = r.id) AS reviews,
                   (SELECT count(*) FROM comments c JOIN pull_requests p ON p.id = c.pull_request_id
                     WHERE p.repository_id = r.id) AS comments,
                   (SELECT count(*) FROM backfill_chunks c
                     WHERE c.backfill_state_id = s.id AND c.status = 'failed') AS failed_chunks
              FROM repositories r JOIN progressive_backfill_state s ON s.repository_id = r.id
            """
        ).fetchall()
    return {row["repo"]: row for row in rows}


def assert_exact(rows: dict[str, dict[str, Any]], stats: dict[str, Any], repos: list[str]) -> None:
    """Every repository completed with exactly the simulator's PRs, reviews and comments."""
    for spec in repos:
        name = spec.rsplit(":", 1)[0]
        row = rows[name]
        assert row["status"] == "completed", row
        assert row["processed_prs"] == row["stored"] == stats["prs"][name], row
        assert row["reviews"] == stats["reviews"][name], row
        assert row["comments"] == stats["comments"][name], row
        assert row["failed_chunks"] == 0, row


def text_columns(database_url: str) -> str:
    """Every text, varchar and jsonb value in the database, as one string."""
    with psycopg.connect(database_url) as db:
        columns = db.execute(
            """
            SELECT table_name, column_name FROM information_schema.columns
             WHERE table_schema = 'public'
               AND data_type IN ('text', 'character varying', 'jsonb', 'json')
            """
        ).fetchall()
        parts = []
        for table, column in columns:
            for (value,) in db.execute(f'SELECT "{column}"::text FROM "{table}"'):
                if value is not None:
                    parts.append(value)
    return "\n".join(parts)


def test_two_installations_work_at_once_each_within_its_budget(
    database_url: str, tmp_path: Path, app_key: tuple[Path, Path, str]
) -> None:
    """Two installations over disjoint owners, each with 5 points per 2 s window: the
    backfill completes with exact data, no installation is ever answered RATE_LIMITED (it
    waited for its reset instead), a repository outside every installation fails with the
    reason, and the run takes at most 0.6 of the same run through one installation that sees
    both owners with the same budget (measured in this test; see the module's docstring)."""
    private_key, public_key, key_body = app_key
    repos = [*OCTO, *ACME]
    names = [r.rsplit(":", 1)[0] for r in repos]

    # Two installations.
    with app_simulator([*repos, HIDDEN], public_key, ["1:octo", "2:acme"]) as sim:
        env = base_env(database_url, tmp_path, sim, private_key)
        added = cli(env, "add", *names, "hidden/secret")
        assert added.returncode == 1, added.stderr  # one repository could not be routed
        listing = run_worker(env, tmp_path / "two.log")
        stats = sim.stats()
        stats_json = cli(env, "stats", "--json")
        stats_text = cli(env, "stats")
    rows = repository_rows(database_url)
    assert_exact(rows, stats, repos)
    assert {rows[n]["installation_id"] for n in names if n.startswith("octo/")} == {1}
    assert {rows[n]["installation_id"] for n in names if n.startswith("acme/")} == {2}
    hidden = rows["hidden/secret"]
    assert hidden["status"] == "failed" and hidden["stored"] == 0
    assert hidden["last_error"] == (
        f"no installation of GitHub App {APP_ID} can see hidden/secret; install the App on "
        "hidden (or give it access to this repository), then add it again"
    )
    assert "hidden/secret backfill failed: no installation of GitHub App" in added.stderr
    assert stats["outcomes"].get("rate_limited", 0) == 0, stats["outcomes"]
    # Tokens expired during the run and were renewed before GitHub had to refuse one.
    assert stats["outcomes"].get("401", 0) == 0, stats["outcomes"]
    assert all(stats["installations"][i]["tokens_issued"] >= 3 for i in ("1", "2")), stats
    points = [stats["installations"][i]["points_used"] for i in ("1", "2")]
    assert min(points) > 2 * int(LIMIT), points  # the work needed several windows each
    assert max(points) <= 1.25 * min(points), points  # split evenly (the ratio's premise)
    # stats --json: the spec's metrics per installation, by name, without a secret.
    assert stats_json.returncode == 0, stats_json.stderr
    budgets = {b["name"]: b for b in json.loads(stats_json.stdout)["graphql"]}
    assert set(budgets) == {"installation 1 (octo)", "installation 2 (acme)"}, budgets
    for budget in budgets.values():
        assert budget["limit"] == int(LIMIT) and 0 <= budget["remaining"] <= int(LIMIT)
        assert budget["installationId"] in (1, 2) and budget["resetAt"]
    assert "installation 1 (octo)" in stats_text.stdout

    # Neither the private key nor a token anywhere: output, logs, database, ps.
    log = (tmp_path / "two.log").read_text()
    everything = "\n".join(
        [added.stdout, added.stderr, stats_json.stdout, stats_text.stdout, log, listing]
    )
    everything += text_columns(database_url)
    assert key_body[:64] not in everything and key_body[-64:] not in everything
    assert "PRIVATE KEY" not in everything
    assert not re.search(r"ghs_[A-Za-z0-9]{8,}", everything), "an installation token leaked"
    dump = subprocess.run(
        [str(postgres_bin_dir() / "pg_dump"), "--data-only", database_url],
        capture_output=True,
        text=True,
        check=False,
    )
    assert dump.returncode == 0, dump.stderr
    assert "installation 1 (octo)" in dump.stdout  # the dump holds the budgets
    assert "ghs_" not in dump.stdout and key_body[:64] not in dump.stdout

    # The same work through one installation that sees both owners, same budget each.
    with psycopg.connect(database_url, autocommit=True) as db:  # the same database, emptied
        db.execute("TRUNCATE repositories, github_rate_limits, workers CASCADE")
    with app_simulator(repos, public_key, ["1:octo,acme"]) as sim:
        env = base_env(database_url, tmp_path, sim, private_key)
        assert cli(env, "add", *names).returncode == 0
        run_worker(env, tmp_path / "one.log")
        stats_one = sim.stats()
    assert_exact(repository_rows(database_url), stats_one, repos)
    assert stats_one["outcomes"].get("rate_limited", 0) == 0, stats_one["outcomes"]
    two, one = stats["span_seconds"], stats_one["span_seconds"]
    assert two <= 0.6 * one, (two, one)


def test_several_personal_tokens_each_keep_their_own_budget(
    database_url: str, tmp_path: Path
) -> None:
    """GITHUB_TOKENS: the work is spread over both tokens, each needs more than one window of
    its budget and neither is answered RATE_LIMITED, each budget is published under its
    token's name (never the token). (900 PRs took 54 s for no more than that.)"""
    tokens = ["simulated-account-one-0001", "simulated-account-two-0002"]
    repos = ["tok/a:250", "tok/b:200"]
    with simulator(repos, seed=29, extra=("--limit", LIMIT, "--window-seconds", WINDOW)) as sim:
        env = environ_without_secrets()
        env.update(
            DATABASE_URL=database_url,
            BACKFILL_DATA_DIR=str(tmp_path / "data"),
            GITHUB_GRAPHQL_URL=sim.graphql_url,
            GITHUB_TOKENS=",".join(tokens),
            MIN_GRAPHQL_POINTS="2",
        )
        assert cli(env, "add", "tok/a", "tok/b").returncode == 0
        listing = run_worker(env, tmp_path / "tokens.log")
        stats = sim.stats()
        stats_json = cli(env, "stats", "--json")
    assert_exact(repository_rows(database_url), stats, repos)
    assert stats["outcomes"].get("rate_limited", 0) == 0, stats["outcomes"]
    assert len(stats["tokens"]) == 2
    # Each token's budget bound: it waited for a reset at least once, never answered limited.
    assert all(t["points_used"] > int(LIMIT) for t in stats["tokens"].values()), stats["tokens"]
    names = {b["name"] for b in json.loads(stats_json.stdout)["graphql"]}
    assert len(names) == 2 and all(n.startswith("token ") for n in names), names
    everything = (tmp_path / "tokens.log").read_text() + listing + stats_json.stdout
    everything += text_columns(database_url)
    for token in tokens:
        assert token not in everything
