"""Per-token budgets: GitHub's primary points window and its secondary limits.

The primary window starts at a token's first request and lasts `window_seconds`; the first
request after it ends opens a new one (GitHub's rolling hour). Secondary limits are judged on
the simulator's clock, so tests move time instead of sleeping: a request is "in flight" for
the real delay it is answered with (latency, slow fault), and counts for a minute towards the
points-per-minute limit (every query counts 1, as GitHub counts non-mutations). Server time
is kept in GitHub's seconds; the minute it is judged over is `config.minute` (time-scaled).

Not thread-safe on its own: the simulator calls it under its lock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from .config import SimConfig
from .responses import RateSnapshot


@dataclass
class TokenState:
    user_id: int
    limit: int  # points per window (an installation's may differ from a token's)
    window_start: float | None = None
    used: int = 0
    points_total: int = 0
    requests: int = 0
    admitted: deque[float] = field(default_factory=deque)  # admission times, last minute
    in_flight_until: deque[float] = field(default_factory=deque)
    server_time: deque[tuple[float, float]] = field(default_factory=deque)  # (at, seconds)
    server_seconds: float = 0.0  # GitHub's seconds, in all
    server_peak: float = 0.0  # most server time started within one minute, GitHub's seconds
    first_at: float | None = None  # the token's first request (simulator clock)
    last_at: float | None = None  # when its latest answer was complete (simulator clock)
    secondary_at: list[float] = field(default_factory=list)  # GitHub's s after first_at


class Budgets:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.tokens: dict[str, TokenState] = {}

    def state(self, key: str, limit: int | None = None) -> TokenState:
        """The budget of `key`: a token, or `installation:ID` (all of its tokens share it)."""
        found = self.tokens.get(key)
        if found is None:
            found = TokenState(user_id=len(self.tokens) + 1, limit=limit or self.config.limit)
            self.tokens[key] = found
        return found

    def snapshot(self, state: TokenState, now: float) -> RateSnapshot:
        """The window as of `now`, opening a new one if the old one has ended."""
        window = self.config.window_seconds
        if state.window_start is None or now >= state.window_start + window:
            state.window_start = now
            state.used = 0
        return RateSnapshot(state.limit, state.used, state.window_start + window)

    def charge(self, state: TokenState, points: int) -> None:
        state.used += points
        state.points_total += points

    def secondary_reason(self, state: TokenState, now: float) -> str | None:
        """Why a new request would break a secondary limit now, or None."""
        cfg = self.config
        minute = cfg.minute
        while state.admitted and state.admitted[0] <= now - minute:
            state.admitted.popleft()
        while state.in_flight_until and state.in_flight_until[0] <= now:
            state.in_flight_until.popleft()
        while state.server_time and state.server_time[0][0] <= now - minute:
            state.server_time.popleft()
        if len(state.in_flight_until) >= cfg.max_concurrent:
            return "concurrency"
        if len(state.admitted) >= cfg.points_per_minute:
            return "points_per_minute"
        cpu_limit = cfg.cpu_seconds_per_minute
        if cpu_limit is not None and sum(s for _, s in state.server_time) >= cpu_limit:
            return "server_time"
        return None

    def admit(self, state: TokenState, now: float, delay: float) -> None:
        state.admitted.append(now)
        if delay > 0:
            ends = now + delay
            # keep sorted so expiry pops from the left
            if state.in_flight_until and state.in_flight_until[-1] > ends:
                items = sorted([*state.in_flight_until, ends])
                state.in_flight_until = deque(items)
            else:
                state.in_flight_until.append(ends)

    def record_server_time(self, state: TokenState, now: float, seconds: float) -> None:
        """`seconds` (GitHub's) of server time for a request admitted at `now`."""
        state.server_time.append((now, seconds))
        state.server_seconds += seconds
        minute = self.config.minute
        recent = sum(s for at, s in state.server_time if at > now - minute)
        state.server_peak = max(state.server_peak, recent)
