"""Argument types shared by subcommands: invalid values become argparse usage errors (exit 2)."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


def bounded_int(low: int, high: int, why: str) -> Callable[[str], int]:
    """A whole number in [low, high]; out of range is one usage line saying why the bound."""

    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} must be from {low} to {high} ({why})")
        return value

    return parse


def bounded_float(low: float, high: float, why: str) -> Callable[[str], float]:
    """A number in [low, high] (NaN and infinities refused)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not low <= value <= high:  # also False for NaN
            raise argparse.ArgumentTypeError(f"{text!r} must be from {low:g} to {high:g} ({why})")
        return value

    return parse


# Each backfill worked at once holds one database connection (the pool is concurrency + 2);
# Postgres allows 100 connections by default and Supabase's smaller plans fewer, so a large
# --concurrency starved every other worker and the console.
MAX_CONCURRENCY = 32
concurrency = bounded_int(1, MAX_CONCURRENCY, "each one holds a database connection")
# A lease outliving its dead worker keeps the backfill locked that long; and Postgres's
# integer stops at 2^31.
lease_seconds = bounded_int(1, 86_400, "a dead worker's backfill stays locked that long")
stuck_minutes = bounded_int(1, 525_600, "at most a year")
cleanup_days = bounded_int(1, 36_500, "at most a hundred years")
# Below half a second the console polls the database in a tight loop and stops noticing a
# lost terminal; half a second is also the fastest step of the + key.
refresh_seconds = bounded_float(0.5, 3600.0, "the console polls the database this often")
# Minutes between scheduled syncs of a completed repository. Unbounded, 1e308 overflowed
# Python's timedelta and 99999999999 Postgres's interval (claim_sync computes now() minus it)
# on every claim, so the worker never went idle and counted failures. A month is far beyond
# any useful interval; 0 disables scheduled syncs.
MAX_SYNC_EVERY_MINUTES = 30 * 24 * 60.0
sync_every_minutes = bounded_float(0.0, MAX_SYNC_EVERY_MINUTES, "at most 30 days; 0 disables")
