"""`backfill-console retry` and `remove` as real processes against the real database and the
simulator over HTTP: what each changes is counted in the database, every table."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.support.console_pilot import backfills, fail, rows
from tests.support.harness import cli

# What a repository owns, per table (the cascade of remove_repository); every other table
# keeps every row.
REPOSITORY = "(SELECT r.id FROM repositories r WHERE r.owner || '/' || r.name = %(repo)s)"
PULL_REQUESTS = f"(SELECT p.id FROM pull_requests p WHERE p.repository_id = {REPOSITORY})"
OWNED = {
    "repositories": f"t.id = {REPOSITORY}",
    "progressive_backfill_state": f"t.repository_id = {REPOSITORY}",
    "backfill_chunks": "t.backfill_state_id IN (SELECT s.id FROM progressive_backfill_state s"
    f" WHERE s.repository_id = {REPOSITORY})",
    "pull_requests": f"t.repository_id = {REPOSITORY}",
    "reviews": f"t.pull_request_id IN {PULL_REQUESTS}",
    "comments": f"t.pull_request_id IN {PULL_REQUESTS}",
    "review_threads": f"t.pull_request_id IN {PULL_REQUESTS}",
    "review_comments": f"t.pull_request_id IN {PULL_REQUESTS}",
    "pull_request_failures": f"t.repository_id = {REPOSITORY}",
    "repository_row_counts": f"t.repository_id = {REPOSITORY}",
}


def every_row(database_url: str) -> dict[str, set[str]]:
    """Every row of every table in the schema, as text (a row that changed counts as one
    gone and one new)."""
    with psycopg.connect(database_url) as db:
        tables = [
            name
            for (name,) in db.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            ).fetchall()
        ]
        return {
            table: {
                text
                for (text,) in db.execute(
                    sql.SQL("SELECT t::text FROM {} t").format(sql.Identifier(table))
                ).fetchall()
            }
            for table in tables
        }


def owned_rows(database_url: str, repo: str) -> dict[str, set[str]]:
    """The rows `repo` owns, per table, as text."""
    with psycopg.connect(database_url) as db:
        return {
            table: {
                text
                for (text,) in db.execute(
                    sql.SQL("SELECT t::text FROM {} t WHERE {}").format(
                        sql.Identifier(table),
                        sql.SQL(where),  # type: ignore[arg-type]
                    ),
                    {"repo": repo},
                ).fetchall()
            }
            for table, where in OWNED.items()
        }


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI with no terminal: stdin from /dev/null, output to pipes."""
    return subprocess.run(
        [sys.executable, "-m", "console.cli", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(env["BACKFILL_DATA_DIR"]).parent,
    )


@pytest.fixture
def two_backfilled(worker_env: dict[str, str], database_url: str) -> dict[str, str]:
    """acme/api and acme/web backfilled in full by a worker process (PRs, reviews, comments,
    contributors, chunks, a worker row)."""
    assert run(worker_env, "add", "acme/api", "acme/web").returncode == 0
    done = cli(worker_env, "worker", "--until-idle", "--sync-every", "0", timeout=180)
    assert done.returncode == 0, done.stderr
    assert backfills(database_url) == {"acme/api": "completed", "acme/web": "completed"}
    return worker_env


def test_retry_turns_a_failed_backfill_into_one_that_completes(
    worker_env: dict[str, str], database_url: str
) -> None:
    assert run(worker_env, "add", "acme/tiny", "acme/web").returncode == 0
    fail(database_url, "acme/tiny")
    assert backfills(database_url) == {"acme/tiny": "failed", "acme/web": "pending"}

    retried = run(worker_env, "retry", "acme/tiny")
    assert retried.returncode == 0, retried.stderr
    assert "acme/tiny: retried: pending again, from its stored cursor" in retried.stdout
    assert backfills(database_url) == {"acme/tiny": "pending", "acme/web": "pending"}

    again = run(worker_env, "retry", "acme/tiny", "acme/web")  # neither is failed now
    assert again.returncode == 1
    assert "acme/web: not retried: it is pending, not failed" in again.stdout

    done = cli(worker_env, "worker", "--until-idle", "--sync-every", "0", timeout=180)
    assert done.returncode == 0, done.stderr
    assert backfills(database_url) == {"acme/tiny": "completed", "acme/web": "completed"}
    stored = rows(
        database_url,
        "SELECT count(*) AS n FROM pull_requests p JOIN repositories r ON r.id = p.repository_id"
        " WHERE r.name = 'tiny'",
    )
    assert stored == [{"n": 3}]


@pytest.mark.parametrize("command", ["retry", "remove"])
def test_an_unknown_name_is_a_clear_error_and_changes_nothing(
    command: str, worker_env: dict[str, str], database_url: str
) -> None:
    assert run(worker_env, "add", "acme/tiny").returncode == 0
    fail(database_url, "acme/tiny")
    before = every_row(database_url)
    args: tuple[str, ...] = ("acme/tiny", "acme/nothing")
    if command == "remove":
        args = ("acme/nothing", "--yes")
    result = run(worker_env, command, *args)
    assert result.returncode != 0
    assert "backfill-console: error: acme/nothing: no such repository" in result.stderr
    assert "Traceback" not in result.stderr
    assert every_row(database_url) == before  # acme/tiny was not retried either


def test_remove_yes_deletes_exactly_that_repositorys_rows(
    two_backfilled: dict[str, str], database_url: str
) -> None:
    before = every_row(database_url)
    web = owned_rows(database_url, "acme/web")
    assert all(web[t] for t in ("pull_requests", "reviews", "comments", "backfill_chunks"))
    assert before["contributors"], "shared contributors exist and must stay"

    result = run(two_backfilled, "remove", "acme/web", "--yes")
    assert result.returncode == 0, result.stderr
    assert "removed acme/web:" in result.stdout
    assert f"{len(web['pull_requests']):,} pull requests" in result.stdout

    after = every_row(database_url)
    assert set(after) == set(before)
    for table in before:
        gone = before[table] - after[table]
        assert gone == web.get(table, set()), table  # exactly its rows, nothing else
        assert after[table] <= before[table], table  # and nothing changed or added
    assert backfills(database_url) == {"acme/api": "completed"}
    assert owned_rows(database_url, "acme/web") == {t: set() for t in OWNED}


def _on_a_terminal(env: dict[str, str], answer: str, *args: str) -> tuple[int, str]:
    """The CLI on a pseudo-terminal, `answer` typed at its prompt."""
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "console.cli", *args],
        env={**env, "TERM": "dumb", "COLUMNS": "200"},
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        cwd=Path(env["BACKFILL_DATA_DIR"]).parent,
    )
    os.close(secondary)
    output = b""
    try:
        while b"anything else cancels" not in output:
            chunk = os.read(primary, 4096)
            if not chunk:
                break
            output += chunk
        os.write(primary, answer.encode() + b"\n")
        while True:
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            output += chunk
        code = process.wait(timeout=60)
    finally:
        os.close(primary)
        if process.poll() is None:
            process.kill()
    return code, output.decode(errors="replace")


def test_remove_without_yes_refuses_with_no_terminal_and_asks_on_one(
    two_backfilled: dict[str, str], database_url: str
) -> None:
    before = every_row(database_url)
    result = run(two_backfilled, "remove", "acme/web")
    assert result.returncode == 1
    assert "would remove acme/web:" in result.stdout
    assert "nothing deleted: pass --yes" in result.stdout
    assert every_row(database_url) == before

    code, output = _on_a_terminal(two_backfilled, "acme/api", "remove", "acme/web")
    assert "would remove acme/web:" in output
    assert code == 1 and "cancelled: nothing deleted" in output  # not the name asked for
    assert every_row(database_url) == before

    code, output = _on_a_terminal(two_backfilled, "acme/web", "remove", "acme/web")
    assert code == 0 and "removed acme/web:" in output
    assert backfills(database_url) == {"acme/api": "completed"}
