"""What a red team found in the CLI, each kept as a test of its rule, with real processes.

- a wait longer than a few seconds says what it waits for and until when, and Ctrl-C ends it;
  a reserve that no budget can hold is refused, never waited on;
- `add` of many repositories handles each on its own;
- every connection failure names where it tried (never the password);
- `--workers` is bounded; `simulate --help` lists every fault kind;
- a SIGKILLed `demo` leaves no child running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from core.github.errors import TransientError
from core.simulator.config import PR_FAULTS, REPO_FAULTS, REQUEST_FAULTS
from tests.support.cli_waits import add_until_it_waits
from tests.support.harness import cli, engine_env, simulator

SECRET = "hunter2-very-secret"


def repositories(database_url: str) -> list[str]:
    with psycopg.connect(database_url) as db:
        rows = db.execute("SELECT owner || '/' || name FROM repositories ORDER BY 1").fetchall()
    return [name for (name,) in rows]


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """stderr without the notice of where the token goes (the simulator is not GitHub)."""
    return [
        line
        for line in result.stderr.splitlines()
        if line.strip() and not line.startswith("backfill-console: note: GITHUB_TOKEN")
    ]


# --- 1. waits: one line, Ctrl-C; never with room --------------------------------------------


def test_add_waiting_for_the_budget_says_so_and_ctrl_c_ends_it(
    cli_env: dict[str, str], database_url: str
) -> None:
    """A 1-point budget: the second repository's lookup waits for the reset (an hour away).
    The wait is said on one line with its end; SIGINT ends the command at once (exit 130)
    with the first repository registered and nothing else."""
    with simulator(["w/one:5", "w/two:5"], extra=("--limit", "1")) as sim:
        env = engine_env(cli_env, sim, MIN_GRAPHQL_POINTS="0")
        proc, line = add_until_it_waits(env, "w/one", "w/two")
        try:
            assert proc.stderr is not None
            assert "waiting until" in line and "UTC" in line, line
            assert "GraphQL budget" in line and "Ctrl-C" in line, line
            assert "0 points left" in line, line
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=30) == 130
            assert "interrupted" in proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert repositories(database_url) == ["w/one"]


def test_a_reserve_the_budget_cannot_hold_is_refused_not_waited_on(
    cli_env: dict[str, str], database_url: str
) -> None:
    """MIN_GRAPHQL_POINTS as large as the token's whole budget: before, `add` waited an hour
    with 4,999 of 5,000 points left. Now one line says what to set, at once, nothing added."""
    with simulator(["r/one:5", "r/two:5"], extra=("--limit", "50")) as sim:
        refused = cli(engine_env(cli_env, sim, MIN_GRAPHQL_POINTS="50"), "add", "r/one", "r/two")
        assert refused.returncode == 2, refused.stderr
        lines = error_lines(refused)
        assert len(lines) == 1 and lines[0].startswith("backfill-console: error:"), lines
        assert "MIN_GRAPHQL_POINTS" in lines[0] and "below 50" in lines[0]
        assert repositories(database_url) == []
        # A reserve the budget can hold: room is used, no wait at all.
        fine = cli(engine_env(cli_env, sim, MIN_GRAPHQL_POINTS="40"), "add", "r/one", "r/two")
    assert fine.returncode == 0, fine.stderr
    assert "waiting" not in fine.stderr
    assert repositories(database_url) == ["r/one", "r/two"]


@pytest.mark.parametrize("points", ["15000", "1000000"])
def test_min_graphql_points_above_any_github_budget_is_refused_at_load(
    cli_env: dict[str, str], database_url: str, points: str
) -> None:
    env = dict(cli_env, GITHUB_TOKEN="simulator-only-token", MIN_GRAPHQL_POINTS=points)
    result = cli(env, "add", "octo/hello")
    assert result.returncode == 2
    lines = error_lines(result)
    assert len(lines) == 1 and "MIN_GRAPHQL_POINTS must be below 15,000" in lines[0], lines
    assert repositories(database_url) == []


# --- 3. add: each repository on its own ----------------------------------------------------


def test_add_handles_each_repository_on_its_own(cli_env: dict[str, str], database_url: str) -> None:
    """Two 502s for one repository are retried within bounds (added); a repository GitHub
    refuses (SAML) and one it does not know are reported with their own reasons; the others
    are added; the exit status says some failed."""
    repos = ["ok/one:5", "ok/flaky:7", "sso/locked:3", "ok/two:4"]
    faults = "502@ok/flaky*2,saml@sso/locked"
    with simulator(repos, extra=("--faults", faults)) as sim:
        result = cli(
            engine_env(cli_env, sim),
            "add",
            "ok/one",
            "ok/flaky",
            "sso/locked",
            "ghost/missing",
            "ok/two",
        )
        stats = sim.stats()
    assert result.returncode == 1, result.stderr
    assert stats["faults"].get("502") == 2
    assert repositories(database_url) == ["ok/flaky", "ok/one", "ok/two"]
    failures = [line for line in error_lines(result) if "not added" in line]
    assert len(failures) == 2, result.stderr
    assert "sso/locked not added" in failures[0] and "SAML SSO" in failures[0]
    assert "ghost/missing not added: not found on GitHub" in failures[1]
    assert "smaller page" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_backfill_goes_on_with_the_repositories_it_could_add(
    cli_env: dict[str, str], database_url: str
) -> None:
    """`backfill` adds the same way: the missing one is reported, the other is backfilled;
    when none could be added it works on nothing (not on every backfill in the database)."""
    with simulator(["ok/one:5", "ok/other:6"]) as sim:
        env = engine_env(cli_env, sim)
        assert cli(env, "add", "ok/other").returncode == 0  # someone else's, left pending
        some = cli(env, "backfill", "ok/one", "ghost/missing", "--workers", "1")
        none = cli(env, "backfill", "ghost/gone", "--workers", "1")
    assert some.returncode == 1 and "ghost/missing not added: not found" in some.stderr
    assert none.returncode == 1 and "ghost/gone not added: not found" in none.stderr
    with psycopg.connect(database_url) as db:
        rows = dict(
            db.execute(
                "SELECT r.owner || '/' || r.name, s.status FROM repositories r "
                "JOIN progressive_backfill_state s ON s.repository_id = r.id"
            ).fetchall()
        )
    assert rows == {"ok/one": "completed", "ok/other": "pending"}


def test_a_transient_failure_is_reported_as_what_github_answered() -> None:
    from console.commands.add import failure_reason

    exc = TransientError(
        "GitHub request failed 6 times (GitHub failed (HTTP 502)); try a smaller page",
        attempts=6,
        status=502,
        reason="GitHub failed (HTTP 502)",
    )
    assert failure_reason(exc) == "GitHub failed (HTTP 502), still after 6 tries"


# --- 5. connection failures name where ------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "where"),
    [
        (f"postgresql://user:{SECRET}@127.0.0.1:1/db", "127.0.0.1:1"),
        (f"postgresql://user:{SECRET}@/db?host=/nonexistent-dir", "/nonexistent-dir/.s.PGSQL."),
        (f"postgresql://user:{SECRET}@localhost:1/db", ":1"),
        (f"postgresql://user:{SECRET}@nosuch.invalid:6543/db", "nosuch.invalid:6543"),
    ],
)
@pytest.mark.parametrize("command", ["stats", "migrate"])
def test_connection_failure_names_where_it_tried(
    cli_env: dict[str, str], url: str, where: str, command: str
) -> None:
    result = cli(dict(cli_env, DATABASE_URL=url), command)
    assert result.returncode != 0
    lines = error_lines(result)
    assert len(lines) == 1, lines
    assert lines[0].startswith("backfill-console: error: cannot connect to the database")
    assert f" at {where}" in lines[0] or where in lines[0], lines[0]
    assert SECRET not in result.stderr + result.stdout


# --- 7, 8. bounded --workers; every fault kind in simulate --help ----------------------------


@pytest.mark.parametrize("command", [["backfill", "a/b"], ["demo"]])
@pytest.mark.parametrize("workers", ["33", "100000", "0"])
def test_workers_are_bounded(cli_env: dict[str, str], command: list[str], workers: str) -> None:
    result = cli(cli_env, *command, "--workers", workers)
    assert result.returncode == 2
    assert "--workers" in result.stderr and "must be from 1 to 32" in result.stderr
    assert "Traceback" not in result.stderr


def test_simulate_help_lists_every_fault_kind(cli_env: dict[str, str]) -> None:
    text = cli(cli_env, "simulate", "--help").stdout
    assert "KIND@OWNER/NAME#NUMBER" in text and "KIND:RATE" in text
    lines = text.splitlines()
    for kind in (*REQUEST_FAULTS, *REPO_FAULTS, *PR_FAULTS):
        described = [line for line in lines if line.split()[:1] == [kind]]
        assert len(described) == 1, kind
        assert len(described[0].split()) > 2, described  # a description follows


# --- 10. a SIGKILLed demo leaves no child ---------------------------------------------------


def descendants(pid: int) -> set[int]:
    """Every process whose parent chain reaches `pid` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        children = {p for p, parent in parents.items() if parent in frontier} - found
        found |= children
        frontier = children
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_a_sigkilled_demo_leaves_no_child_running(tmp_path: Path) -> None:
    """The simulator, the workers and the embedded Postgres die with the demo, and its data
    goes, even when the demo is SIGKILLed (no handler of its own runs then)."""
    from tests.support.terminal import terminal, terminal_env

    env = terminal_env(TMPDIR=str(tmp_path))
    with terminal("demo", "--workers", "2", env=env) as term:
        term.wait_for("GraphQL budget", "Repositories", "demo/web")
        deadline = time.monotonic() + 60
        children: set[int] = set()
        while time.monotonic() < deadline:  # the simulator, 3 workers, the postmaster...
            children = descendants(term.pid)
            commands = [_cmdline(p) for p in children]
            if sum(" worker " in c for c in commands) >= 2 and any(
                " simulate " in c for c in commands
            ):
                break
            time.sleep(0.2)
        assert any("postgres" in _cmdline(p) for p in children), children
        data_dirs = list(tmp_path.glob("backfill-console-demo-*"))
        assert len(data_dirs) == 1
        os.kill(term.pid, signal.SIGKILL)
        os.waitpid(term.pid, 0)
        term.pid = -1
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(alive(p) for p in children):
            time.sleep(0.2)
        survivors = {p: _cmdline(p) for p in children if alive(p)}
        for pid in survivors:  # this test's own processes: never left behind
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        assert survivors == {}
        while time.monotonic() < deadline and data_dirs[0].exists():
            time.sleep(0.2)
        assert not data_dirs[0].exists()


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return " " + raw.replace(b"\0", b" ").decode(errors="replace") + " "
