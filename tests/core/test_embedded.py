"""With no database configured, processes share one embedded Postgres in BACKFILL_DATA_DIR."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def test_processes_share_the_embedded_database(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "SUPABASE_URL", "VITE_SUPABASE_URL")
    }
    env["BACKFILL_DATA_DIR"] = str(tmp_path / "data")
    procs = [
        subprocess.Popen(
            ["backfill-console", "stats", "--json"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert '"chunks"' in out
    # Migrated once, on the way, and the data outlived the processes.
    again = subprocess.run(
        ["backfill-console", "migrate"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0 and "up to date" in again.stdout
    assert (tmp_path / "data" / "pgdata" / "PG_VERSION").exists()
