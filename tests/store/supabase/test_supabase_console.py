"""The console on a Supabase project: the same panels and recovery plan through PostgREST."""

from __future__ import annotations

import asyncio

from console.app import BackfillConsole
from console.backend import Backend
from console.screens import RecoveryPlanScreen
from console.widgets import KeyedTable
from core.config import load_settings
from core.store import Store
from tests.support.recovery_rows import stuck_chunk
from tests.support.supabase_stack import SupabaseStack


async def test_console_reads_and_plans_recovery_through_rest(
    supabase: SupabaseStack, store: Store, db
) -> None:
    await stuck_chunk(store, db, "alpha", minutes=120, expected=None)
    await store.register_backfill("octo", "beta", 5)
    settings = load_settings(
        _env_file=None,
        database_url=None,
        supabase_url=supabase.url,
        supabase_service_key=supabase.service_key,
    )
    app = BackfillConsole(Backend(settings, stuck_minutes=60), autopoll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        app.poll()
        await asyncio.gather(*(w.wait() for w in app.workers), return_exceptions=True)
        await pilot.pause()
        table = app.query_one("#repositories", KeyedTable)
        shown = {table.row_text(k.value)[0] for k in table.rows if k.value}
        assert shown == {"octo/alpha", "octo/beta"}
        assert app.report is not None and [c.chunk_number for c in app.report.stuck] == [1]
        await pilot.press("d")
        await pilot.pause(0.5)
        assert isinstance(app.screen, RecoveryPlanScreen)
        assert [c.repository for c in app.screen.report.chunks] == ["octo/alpha"]
