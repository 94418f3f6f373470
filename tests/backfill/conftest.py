"""The engine's tests through both store transports where they ask for `engine_settings`
(tests/support/engine_transports.py); every other test here runs once, on psycopg's
database, as the root conftest gives it."""

from __future__ import annotations

import pytest

from tests.support.engine_transports import (
    database_url,
    engine_settings,
    parametrize_transports,
    transport,
)

__all__ = ["database_url", "engine_settings", "transport"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_transports(metafunc)
