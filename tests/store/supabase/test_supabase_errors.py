"""What goes wrong between the tool and Supabase becomes one clear error naming what to fix.

Store level: each PostgREST or gateway failure maps to the error the psycopg transport raises.
CLI level: `backfill-console stats` with a wrong key, a wrong URL or PostgREST down prints one
line on stderr, exits non-zero, and never prints the key.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from core.errors import ConfigError, StoreUnavailable
from core.store import Store, supabase_store
from tests.support.supabase_proxy import PrefixProxy
from tests.support.supabase_stack import SupabaseStack, sign


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


async def test_a_key_signed_by_another_project_names_the_key(supabase: SupabaseStack) -> None:
    wrong = sign("another-projects-secret-" + "y" * 20, "service_role")
    with pytest.raises(ConfigError, match="SUPABASE_SERVICE_KEY was rejected") as caught:
        await supabase_store(supabase.url, wrong)
    assert wrong not in str(caught.value) and "service_role key" in str(caught.value)


async def test_the_anon_key_is_refused_before_any_request(supabase: SupabaseStack) -> None:
    with pytest.raises(ConfigError, match="SUPABASE_SERVICE_KEY is the project's 'anon' key"):
        await supabase_store(supabase.url, supabase.anon_key)


async def test_a_valid_key_without_service_rights_is_told_so(supabase: SupabaseStack) -> None:
    """A key the server accepts but maps to `anon` (no role claim): permission denied."""
    import jwt

    roleless = jwt.encode({"iss": "x", "exp": int(time.time()) + 60}, supabase.jwt_secret)
    with pytest.raises(ConfigError, match=r"SUPABASE_SERVICE_KEY may not call .*service_role"):
        await supabase_store(supabase.url, roleless)


async def test_nothing_listening_at_the_url_names_the_url() -> None:
    with pytest.raises(StoreUnavailable, match=r"cannot reach Supabase at http://127\.0\.0\.1"):
        await supabase_store(closed_port_url(), sign("s" * 40, "service_role"))


async def test_a_server_that_is_not_supabase_names_the_url(supabase: SupabaseStack) -> None:
    elsewhere = PrefixProxy("/elsewhere", supabase.postgrest_url).start()
    try:
        with pytest.raises(ConfigError, match=r"SUPABASE_URL does not point at a Supabase"):
            await supabase_store(elsewhere.url, supabase.service_key)
    finally:
        elsewhere.stop()


@pytest.mark.parametrize("url", ["not a url", "ftp://example.com", "https://"])
async def test_a_malformed_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="must be the project's URL"):
        await supabase_store(url, sign("s" * 40, "service_role"))


async def test_the_rest_path_in_the_url_is_accepted(supabase: SupabaseStack) -> None:
    store = await supabase_store(supabase.url + "/rest/v1/", supabase.service_key)
    await store.close()


async def test_postgrest_down_mid_run_is_store_unavailable(
    store: Store, supabase: SupabaseStack
) -> None:
    await store.register_backfill("octo", "repo", 5)
    supabase.stop_postgrest()
    with pytest.raises(StoreUnavailable, match=r"not answering properly \(HTTP 502"):
        await store.claim_backfill("w")
    supabase.start_postgrest()  # back again: the same store carries on
    assert await store.claim_backfill("w") is not None


async def test_a_missing_function_says_to_apply_the_migrations(
    store: Store, supabase: SupabaseStack, db
) -> None:
    db.execute("DROP FUNCTION backfill_workers_snapshot(); NOTIFY pgrst, 'reload schema'")
    deadline = time.monotonic() + 10
    while True:  # PostgREST reloads its schema cache asynchronously
        try:
            await store.workers()
        except StoreUnavailable as exc:
            assert "backfill_workers_snapshot" in str(exc)
            assert "supabase db push" in str(exc) and "DATABASE_URL" in str(exc)
            return
        assert time.monotonic() < deadline, "PostgREST never reloaded its schema cache"
        await asyncio.sleep(0.1)


async def test_a_function_postgrest_never_reloaded_says_how_to_reload(
    store: Store, supabase: SupabaseStack, db
) -> None:
    """The migrations are applied but PostgREST missed the reload notice;
    "apply the migrations" alone would change nothing."""
    definition = db.execute(
        "SELECT pg_get_functiondef('backfill_workers_snapshot()'::regprocedure) AS sql"
    ).fetchone()["sql"]
    db.execute("DROP FUNCTION backfill_workers_snapshot(); NOTIFY pgrst, 'reload schema'")
    deadline = time.monotonic() + 10
    while True:  # wait until PostgREST's cache has dropped it (PGRST202, not Postgres' 42883)
        try:
            await store.workers()
        except StoreUnavailable as exc:
            if "does not know" in str(exc):
                break
        assert time.monotonic() < deadline, "PostgREST never reloaded its schema cache"
        await asyncio.sleep(0.1)
    db.execute(definition)  # applied again, with no reload notice
    db.execute("GRANT EXECUTE ON FUNCTION backfill_workers_snapshot() TO service_role")
    with pytest.raises(StoreUnavailable) as caught:
        await store.workers()
    assert "NOTIFY pgrst, 'reload schema'" in str(caught.value)
    db.execute("NOTIFY pgrst, 'reload schema'")  # and the advice works
    deadline = time.monotonic() + 10
    while True:
        try:
            assert await store.workers() == []
            return
        except StoreUnavailable:
            assert time.monotonic() < deadline, "the reload the message names did not help"
            await asyncio.sleep(0.1)


async def test_sql_errors_are_the_psycopg_paths_errors(store: Store) -> None:
    with pytest.raises(psycopg.errors.NoDataFound, match="does not exist"):
        await store.next_chunk_number(uuid.uuid4())
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        await store.claim_backfill("w", lease_seconds=-1)


# The CLI ------------------------------------------------------------------------------------


def stats(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def one_clear_line(done: subprocess.CompletedProcess[str], *secrets: str) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("backfill-console: error: ")
    assert "Traceback" not in done.stderr
    for secret in secrets:
        assert secret not in done.stdout + done.stderr
    return lines[0]


def test_stats_works_with_only_the_spec_variables(
    cli_env: dict[str, str], tmp_path: Path, supabase: SupabaseStack, db
) -> None:
    db.execute("SELECT register_backfill('octo', 'hello', 12)")
    done = stats(cli_env, tmp_path, "stats", "--json")
    assert done.returncode == 0, done.stderr
    assert '"repository": "octo/hello"' in done.stdout
    assert supabase.service_key not in done.stdout + done.stderr


def test_stats_with_a_wrong_key(
    cli_env: dict[str, str], tmp_path: Path, supabase: SupabaseStack
) -> None:
    wrong = sign("another-projects-secret-" + "y" * 20, "service_role")
    done = stats({**cli_env, "SUPABASE_SERVICE_KEY": wrong}, tmp_path, "stats")
    line = one_clear_line(done, wrong, supabase.service_key)
    assert done.returncode == 2 and "SUPABASE_SERVICE_KEY" in line


def test_stats_with_a_wrong_url(cli_env: dict[str, str], tmp_path: Path, supabase) -> None:
    done = stats({**cli_env, "VITE_SUPABASE_URL": closed_port_url()}, tmp_path, "stats")
    line = one_clear_line(done, supabase.service_key)
    assert done.returncode == 1 and "from VITE_SUPABASE_URL" in line and "cannot reach" in line


def test_stats_with_postgrest_down(
    cli_env: dict[str, str], tmp_path: Path, supabase: SupabaseStack
) -> None:
    supabase.stop_postgrest()
    done = stats(cli_env, tmp_path, "stats")
    line = one_clear_line(done, supabase.service_key)
    assert done.returncode == 1 and "HTTP 502" in line and "from VITE_SUPABASE_URL" in line


def test_migrate_with_only_rest_credentials_says_how(
    cli_env: dict[str, str], tmp_path: Path, supabase: SupabaseStack
) -> None:
    done = stats(cli_env, tmp_path, "migrate")
    line = one_clear_line(done, supabase.service_key)
    assert done.returncode == 2
    assert "DATABASE_URL" in line and "supabase db push" in line
