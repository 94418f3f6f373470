"""`add --from FILE` (real processes: the simulator over HTTP, real Postgres): a thousand
repositories registered at once, GitHub asked 100 a query, the ones it will not serve named
and the rest added; a file with bad lines names each by number and adds nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.support.harness import cli, engine_env, simulator

pytestmark = pytest.mark.slow


def registered(database_url: str) -> set[str]:
    with psycopg.connect(database_url) as db:
        rows = db.execute("SELECT owner || '/' || name FROM repositories").fetchall()
    return {r[0] for r in rows}


def test_a_thousand_at_once_naming_what_github_will_not_serve(
    cli_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    served = [f"o/a{i:04}" for i in range(997)]
    listed = ["# watched repositories", "", *served[:500], "o/gone  # deleted on GitHub"]
    listed += ["   ", *served[500:], "o/nothere"]
    listed.append("o/locked")
    path = tmp_path / "repos.txt"
    path.write_text("\n".join(listed) + "\n", encoding="utf-8")
    with simulator(
        [f"{n}:1" for n in [*served, "o/locked"]], extra=["--faults", "saml@o/locked"]
    ) as sim:
        env = engine_env(cli_env, sim)
        assert cli(env, "migrate").returncode == 0
        before = sum(t["points_used"] for t in sim.stats()["tokens"].values())

        added = cli(env, "add", "--from", str(path), timeout=600)

        spent = sum(t["points_used"] for t in sim.stats()["tokens"].values()) - before
    assert added.returncode == 1, added.stderr
    assert spent <= 12, spent  # 1,000 repositories: 10 queries, not 1,000
    assert "checked and registered 1000/1000" in added.stderr
    for name in ("o/gone", "o/nothere", "o/locked"):
        assert f"{name} not added" in added.stderr
    assert "SAML" in added.stderr or "FORBIDDEN" in added.stderr
    assert registered(database_url) == set(served)
    with psycopg.connect(database_url) as db:
        (n,) = db.execute(
            "SELECT count(*) FROM progressive_backfill_state WHERE status = 'pending' "
            "AND total_prs = 1"
        ).fetchone()
    assert n == 997


def test_bad_lines_are_named_by_number_and_nothing_is_added(
    cli_env: dict[str, str], database_url: str
) -> None:
    assert cli(cli_env, "migrate").returncode == 0
    text = "o/fine\nnot-a-repo\n# ok\no/bad name\no/x/y\n"
    done = subprocess.run(
        [sys.executable, "-m", "console.cli", "add", "--from", "-"],
        input=text,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(cli_env["BACKFILL_DATA_DIR"]).parent,
    )
    assert done.returncode == 2, done.stderr
    for number in (2, 4, 5):
        assert f"stdin:{number}:" in done.stderr
    assert "stdin:1:" not in done.stderr and "3 bad line(s)" in done.stderr
    assert registered(database_url) == set()


def test_an_unreadable_file_is_a_usage_error(cli_env: dict[str, str], tmp_path: Path) -> None:
    done = cli(cli_env, "add", "--from", str(tmp_path / "missing.txt"))
    assert done.returncode == 2 and "cannot read it" in done.stderr
