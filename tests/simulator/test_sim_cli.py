"""`backfill-console simulate` as a subprocess: prints its URL, serves, stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def _start(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "console.cli", "simulate", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_simulate_prints_its_url_serves_and_exits_cleanly_on_sigterm() -> None:
    proc = _start("--port", "0", "--repo", "acme/api:120", "--limit", "50", "--seed", "3")
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:")
        url = line.removeprefix("listening on ")
        response = httpx.post(
            f"{url}/graphql",
            json={
                "query": '{ repository(owner: "acme", name: "api") '
                "{ pullRequests { totalCount } } }"
            },
            headers={"authorization": "bearer x"},
        )
        assert response.json() == {"data": {"repository": {"pullRequests": {"totalCount": 120}}}}
        assert response.headers["x-ratelimit-limit"] == "50"
        assert httpx.get(f"{url}/_sim/stats").json()["prs"] == {"acme/api": 120}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_bad_flags_are_one_clear_error_and_exit_2() -> None:
    proc = _start("--repo", "not-a-repo")
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 2
    assert "invalid repository 'not-a-repo'" in err.strip().splitlines()[-1]
    proc = _start("--faults", "502:2")
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 2 and "between 0 and 1" in err
