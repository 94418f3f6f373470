"""Bad configuration: one clear line on stderr, a non-zero exit, no traceback, nothing written."""

from __future__ import annotations

import subprocess

import psycopg
import pytest

from core.config import load_settings
from core.errors import ConfigError

SECRET = "hunter2-very-secret"


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["backfill-console", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=env["BACKFILL_DATA_DIR"].rsplit("/", 1)[0],
    )


def assert_one_clear_line(result: subprocess.CompletedProcess[str], needle: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("backfill-console: error:")
    assert needle in lines[0]
    assert "Traceback" not in result.stderr and SECRET not in result.stderr + result.stdout


@pytest.mark.parametrize("command", [["migrate"], ["stats"]])
def test_unreachable_database(cli_env: dict[str, str], command: list[str]) -> None:
    cli_env["DATABASE_URL"] = f"postgresql://user:{SECRET}@127.0.0.1:1/db"
    assert_one_clear_line(
        run(cli_env, *command), "cannot connect to the database given by DATABASE_URL"
    )


@pytest.mark.parametrize(
    "url", [f"not a url {SECRET}", f"postgresql://u:{SECRET}@host:notaport/db"]
)
def test_malformed_database_url(cli_env: dict[str, str], url: str) -> None:
    cli_env["DATABASE_URL"] = url
    assert_one_clear_line(run(cli_env, "migrate"), "DATABASE_URL")


def test_non_number_min_graphql_points_writes_nothing(
    cli_env: dict[str, str], empty_database_url: str
) -> None:
    cli_env["DATABASE_URL"] = empty_database_url
    cli_env["MIN_GRAPHQL_POINTS"] = "lots"
    result = run(cli_env, "migrate")
    assert result.returncode == 2
    assert_one_clear_line(result, "MIN_GRAPHQL_POINTS")
    with psycopg.connect(empty_database_url) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone()
    assert count == 0


def test_schema_behind_says_to_migrate(cli_env: dict[str, str], empty_database_url: str) -> None:
    cli_env["DATABASE_URL"] = empty_database_url
    assert_one_clear_line(run(cli_env, "stats"), "run `backfill-console migrate`")


def test_migrate_then_stats(cli_env: dict[str, str], empty_database_url: str) -> None:
    cli_env["DATABASE_URL"] = empty_database_url
    first = run(cli_env, "migrate")
    assert first.returncode == 0 and "migration(s) applied" in first.stdout
    second = run(cli_env, "migrate")
    assert second.returncode == 0 and "up to date" in second.stdout
    stats = run(cli_env, "stats", "--json")
    assert stats.returncode == 0 and '"processing": 0' in stats.stdout


def test_every_subcommand_has_help(cli_env: dict[str, str]) -> None:
    from console.cli import COMMAND_MODULES

    for module in COMMAND_MODULES:
        name = module.rsplit(".", 1)[1]
        result = run(cli_env, name, "--help")
        assert result.returncode == 0 and "usage: backfill-console" in result.stdout, name


@pytest.mark.parametrize("token", ["abc\u00a0", "abc\n", "t\u00f6ken", "a b"])
def test_a_token_with_whitespace_or_non_ascii_is_refused_in_one_line(token: str) -> None:
    """Red-team finding: a copy-paste artefact in GITHUB_TOKEN made every request fail with a
    UnicodeEncodeError, one chunk at a time, while `stats` showed the backfill idle."""
    with pytest.raises(ConfigError, match="GITHUB_TOKEN") as caught:
        load_settings(github_token=token)
    assert token.strip() not in str(caught.value)


def test_a_blank_setting_is_unset_for_every_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """`VAR=` in a .env file or an unset CI secret: the setting's default, never "not a
    number" or an unsafe-URL error (GITHUB_SERVER_TIME_WINDOW= was refused)."""
    from core.config import _ENV_NAMES

    for name in _ENV_NAMES.values():
        monkeypatch.delenv(name, raising=False)
    defaults = load_settings(_env_file=None)
    for name in _ENV_NAMES.values():
        monkeypatch.setenv(name, "  ")
    assert load_settings(_env_file=None) == defaults
