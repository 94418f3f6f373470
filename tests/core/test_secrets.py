"""Passwords never surface in errors, tokens go only to https hosts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
import pytest

from core.config import load_settings, token_destination_notice
from core.errors import ConfigError
from core.secrets import redact_password
from core.store.supabase_errors import normalise_url

PIECES = ("hunter2", "verysecret", "tail9")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://user:hunter2@verysecret@tail9@127.0.0.1:1/db",  # unencoded @
        "postgresql://user:hunter2:verysecret@tail9@127.0.0.1:1/db",  # : in the password
        "user:hunter2@verysecret:tail9@127.0.0.1:1/db",  # no scheme
        "postgres://user:hunter2/verysecret?tail9@127.0.0.1:1/db",  # / and ? in it
        "postgresql://user:hunter2@verysecret@tail9@host:notaport/db",
        "postgresql://user:hunter2%40verysecret%40tail9@127.0.0.1:1/db",  # encoded
        "host=127.0.0.1 port=1 user=u password='hunter2 verysecret tail9'",
    ],
)
def test_libpq_messages_lose_every_piece_of_the_password(url: str) -> None:
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error as exc:
        message = str(exc)
    else:  # pragma: no cover - nothing listens there
        pytest.fail("connected")
    redacted = redact_password(message, url)
    for piece in PIECES:
        assert piece not in redacted, (message, redacted)


def test_redaction_of_short_tails_and_unrelated_text() -> None:
    url = "postgresql://u:sec/ret?x@host:notaport/db"
    message = 'missing "=" in URI query parameter: "x@host:notaport/db"'
    assert redact_password(message, url) == message.replace('"x@', '"***@')
    assert redact_password("could not connect to server", "postgresql://u@h/db") == (
        "could not connect to server"
    )


@pytest.mark.parametrize(
    "url",
    ["https://user:pass@proj.supabase.co", "https://key@proj.supabase.co"],
)
def test_supabase_url_with_credentials_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="must not contain user:password@") as info:
        normalise_url(url)
    assert "pass" not in str(info.value).replace("password", "")


def test_supabase_url_http_only_to_loopback() -> None:
    with pytest.raises(ConfigError, match=r"plain http:// to proj\.example"):
        normalise_url("http://proj.example")
    assert normalise_url("http://127.0.0.1:54321/") == "http://127.0.0.1:54321"
    assert normalise_url("https://proj.supabase.co/rest/v1") == "https://proj.supabase.co"


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("http://evil.example/graphql", False),
        ("http://10.0.0.1/graphql", False),
        ("ftp://api.github.com/graphql", False),
        ("https://user:pw@api.github.com/graphql", False),
        ("http://127.0.0.1:8080/graphql", True),
        ("http://localhost:8080/graphql", True),
        ("http://[::1]:8080/graphql", True),
        ("https://ghe.example.com/api/graphql", True),
    ],
)
def test_github_url_is_https_or_loopback(url: str, ok: bool) -> None:
    if ok:
        assert load_settings(_env_file=None, github_graphql_url=url).github_graphql_url == url
    else:
        with pytest.raises(ConfigError, match="GITHUB_GRAPHQL_URL"):
            load_settings(_env_file=None, github_graphql_url=url)


def test_the_host_a_token_goes_to_is_named() -> None:
    github = load_settings(_env_file=None, github_token="t")
    assert token_destination_notice(github) is None
    ghe = load_settings(
        _env_file=None, github_token="t", github_graphql_url="https://ghe.example.com/api/graphql"
    )
    assert token_destination_notice(ghe) == (
        "note: GITHUB_TOKEN is sent to ghe.example.com (GITHUB_GRAPHQL_URL), not api.github.com"
    )


def test_a_planted_env_file_cannot_send_the_token_over_http(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    token = "planted-env-must-not-receive-this"
    (tmp_path / ".env").write_text("GITHUB_GRAPHQL_URL=http://evil.example/graphql\n")
    cli_env["GITHUB_TOKEN"] = token
    result = subprocess.run(
        ["backfill-console", "worker", "--until-idle"],
        env=cli_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "GITHUB_GRAPHQL_URL uses plain http:// to evil.example" in lines[0]
    assert token not in result.stderr + result.stdout


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:hunter2@verysecret@tail9@127.0.0.1:1/db",
        "postgresql://u:hunter2:verysecret@tail9@127.0.0.1:1/db",
        "postgresql://u:hunter2/verysecret?tail9@127.0.0.1:1/db",
    ],
)
def test_a_password_with_an_unencoded_at_never_reaches_the_terminal(
    url: str, tmp_path: Path
) -> None:
    """Finding 4, end to end: libpq takes part of such a password for the host and echoes it;
    `stats` says one line, and no piece of the password is in it."""
    import os
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE", "GITHUB"))}
    env.update(DATABASE_URL=url, BACKFILL_DATA_DIR=str(tmp_path / "data"))
    run = subprocess.run(
        [sys.executable, "-P", "-m", "console.cli", "stats"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0
    assert "DATABASE_URL" in run.stderr + run.stdout
    for piece in PIECES:
        assert piece not in run.stderr + run.stdout, (run.stdout, run.stderr)
