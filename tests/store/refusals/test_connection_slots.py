"""The console against a server with every connection slot taken: it says why it cannot
connect (53300, no free connection slots) and that it retries, instead of "connecting to the
database…" for minutes; once a slot is free, the next poll connects. A private server (the
product's embedded Postgres) whose max_connections the test sets and fills with real
connections."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import psycopg
import pytest
from pydantic import SecretStr

from console.app import BackfillConsole
from console.backend import Backend
from core.config import load_settings
from tests.support.console_pilot import SIZE, refresh
from tests.support.private_server import PrivateServer

pytestmark = pytest.mark.slow


@pytest.fixture
def full_server() -> Iterator[tuple[PrivateServer, list[psycopg.Connection]]]:
    """A private server with max_connections 6, every slot held by a connection of the
    test's (superusers may take the reserved ones too: nothing is left)."""
    directory = Path(tempfile.mkdtemp(prefix="slots-pg-"))
    server = None
    with ExitStack() as held:
        try:
            server = PrivateServer(directory)
            with psycopg.connect(server.admin_url, autocommit=True) as conn:
                conn.execute("ALTER SYSTEM SET max_connections = 6")
            server.stop()
            server.start()
            taken: list[psycopg.Connection] = []
            while True:
                try:
                    taken.append(held.enter_context(psycopg.connect(server.url)))
                except psycopg.OperationalError as exc:
                    assert "too many clients" in str(exc), exc
                    break
                assert len(taken) <= 6
            yield server, taken
        finally:
            held.close()
            if server is not None:
                server.destroy()
            shutil.rmtree(directory, ignore_errors=True)


async def test_the_console_says_the_slots_are_full_and_connects_once_one_is_free(
    full_server: tuple[PrivateServer, list[psycopg.Connection]], tmp_path: Path
) -> None:
    server, taken = full_server
    settings = load_settings(data_dir=tmp_path / "data").model_copy(
        update={"database_url": SecretStr(server.url)}
    )
    app = BackfillConsole(Backend(settings), autopoll=False, readonly=True)
    async with app.run_test(size=SIZE) as pilot:
        await refresh(app, pilot)
        error = app.query_one("#error")
        said = str(error.render())
        assert error.has_class("shown"), said
        assert "no free connection slots (53300" in said, said
        assert "retrying every" in said, said

        # Two sessions end: slots for the console's probe and pool, free once their
        # backends have exited (a poll sent sooner was refused under -n 2's load).
        ended = [conn.info.backend_pid for conn in taken[:2]]
        for conn in taken[:2]:
            conn.close()
        server.wait_sessions_gone(ended)
        await refresh(app, pilot)
        assert not error.has_class("shown"), str(error.render())
        assert "connecting to the database" not in str(app.query_one("#summary").render())
