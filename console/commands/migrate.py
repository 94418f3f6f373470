"""`backfill-console migrate`: apply the schema (idempotent, recorded, edits refused)."""

from __future__ import annotations

import argparse
import asyncio

from rich.console import Console

from core.config import load_settings
from core.store import postgres_url
from core.store.postgres import PostgresTransport


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "migrate",
        help="apply database migrations",
        description=(
            "Apply the SQL migrations in migrations/ to the configured database (DATABASE_URL, "
            "or the embedded Postgres when nothing is configured), as the schema's owner. Safe "
            "to run repeatedly: applied files are recorded with a checksum and skipped; an "
            "applied file that was edited is refused (exit 1). On Supabase, give DATABASE_URL "
            "(the project's connection string, role postgres) or push migrations/ with "
            "`supabase db push`: files either tool applied count as applied, and on Supabase "
            "migrate records its files in the CLI's history too. A role that may not change "
            "the schema changes nothing and exits 4 with what its owner or a superuser must do."
        ),
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    console = Console()

    async def apply() -> list[str]:
        url, setting = postgres_url(settings)
        transport = await PostgresTransport.connect(url, setting=setting, max_size=1)
        try:
            return [m.path.name for m in await asyncio.to_thread(transport.migrate)]
        finally:
            await transport.close()

    applied = asyncio.run(apply())
    if applied:
        for name in applied:
            console.print(f"applied [bold]{name}[/]")
        console.print(f"{len(applied)} migration(s) applied")
    else:
        console.print("database schema is up to date")
    return 0
