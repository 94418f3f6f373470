"""How every panel writes a duration, a time of day and a timestamped line."""

from __future__ import annotations

from datetime import datetime, timedelta

from rich.text import Text


def format_duration(seconds: float | None) -> str:
    """Short human durations: 45s, 12m, 3h 05m, 2d 4h; '—' when unknown."""
    if seconds is None:
        return "—"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, _ = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def clock(moment: datetime) -> str:
    """HH:MM:SS in the console's local time zone."""
    return moment.astimezone().strftime("%H:%M:%S")


def hour_minute(moment: datetime) -> str:
    """HH:MM in the console's local time zone: a time to wait for, where columns are few."""
    return moment.astimezone().strftime("%H:%M")


def wait_until(moment: datetime, now: datetime) -> str:
    """When a wait ends, as short as stays true: HH:MM (local) within 24 h of `now`, else
    with its date, "8 Dec 07:40" (a bare 07:40 would read as the next one)."""
    if abs(moment - now) > timedelta(hours=24):
        local = moment.astimezone()
        return f"{local.day} {local:%b %H:%M}"
    return hour_minute(moment)


def stamped(moment: datetime, message: str, style: str = "") -> Text:
    """An event line: `moment` on this clock, dim, then `message` in `style`."""
    text = Text(f"{clock(moment)} ", style="dim")
    text.append(message, style=style)
    return text
