"""`worker --sync-every` is bounded at parse time (at most 30 days): 1e308 overflowed Python's
timedelta and 99999999999 Postgres's interval on every claim, so `--until-idle` never exited and
the summary counted failed chunks. Refused values exit 2 with one usage line, nothing written."""

from __future__ import annotations

import subprocess
import sys

import psycopg
import pytest

from console.commands.args import MAX_SYNC_EVERY_MINUTES, sync_every_minutes

TABLES = ("workers", "progressive_backfill_state", "backfill_chunks", "github_rate_limits")


def counts(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url) as db:
        return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}  # type: ignore[index]


@pytest.mark.parametrize("value", ["1e308", "99999999999", "43200.001", "inf", "nan", "-1"])
def test_out_of_range_sync_every_is_one_usage_line_and_writes_nothing(
    cli_env: dict[str, str], database_url: str, value: str
) -> None:
    before = counts(database_url)
    result = subprocess.run(
        [sys.executable, "-m", "console.cli", "worker", "--until-idle", f"--sync-every={value}"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    error = lines[-1]
    assert error.startswith("usage:") is False and "error:" in error
    assert "--sync-every" in error and "at most 30 days" in error
    assert [line for line in lines if "error" in line.lower()] == [error]
    assert counts(database_url) == before


def test_bounds_accept_zero_and_thirty_days() -> None:
    assert sync_every_minutes("0") == 0.0
    assert sync_every_minutes("43200") == MAX_SYNC_EVERY_MINUTES == 30 * 24 * 60


def test_help_states_the_bound() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "console.cli", "worker", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert "30 days" in " ".join(result.stdout.split())
