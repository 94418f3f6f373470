"""Fixtures for the GitHub client suite."""

from __future__ import annotations

import sys
from pathlib import Path

# `pytest` (unlike `python -m pytest`) does not put the repository root on sys.path.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


import pytest  # noqa: E402

from tests.support.github_sim import FakeClock  # noqa: E402


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
