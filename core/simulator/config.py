"""What a simulated GitHub looks like: repositories, budgets, limits and injected faults.

Everything that changes the simulator's answers is here, so one `SimConfig` (and its seed)
reproduces a run exactly.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from .fault_target import FaultTarget
from .item_faults import FIELD_FAULTS, ITEM_FAULT_HELP

if TYPE_CHECKING:
    from .app import AppSpec

_REPO_RE = re.compile(r"^([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))/([A-Za-z0-9._-]{1,100}):(\d+)$")

# Faults drawn at random per request (KIND:RATE), or aimed at a repository (KIND@OWNER/NAME)
# and, for the per-PR kinds, at one PR (KIND@OWNER/NAME#NUMBER); `*N` limits an aimed fault to
# its first N requests. Each reproduces an answer GitHub (or a proxy) gives; the samples and
# their sources are in tests/support/answer_samples.py. One line each: `simulate --help` lists
# these very lines, so the help cannot fall behind the code.
REQUEST_FAULT_HELP = {
    "502": 'HTTP 502 with GitHub\'s "Something went wrong" body (its 10 s timeout)',
    "504": 'HTTP 504 "We couldn\'t respond to your request in time"',
    "reset": "the connection dropped without an answer",
    "slow": "the answer delayed by `slow_seconds` (1 s)",
    "malformed": "a 200 whose JSON body is cut in half",
    "partial": "RESOURCE_LIMITS_EXCEEDED past a small random number of nodes",
    "went_wrong": '200 + errors "Something went wrong while executing your query..."',
    "message_limit": '200, top-level "API rate limit exceeded", no errors, remaining 0',
    "secondary": "403 JSON secondary rate limit (with retry-after if configured)",
    "secondary_text": '403 plain-text "secondary rate limit", no retry-after',
    "bad_encoding": "Content-Encoding: gzip on a body that is not gzip",
    "trickle": "the answer one byte every `trickle_seconds`",
    "huge": "the answer padded to `huge_bytes`",
}
REPO_FAULT_HELP = {
    "saml": "data.repository null + FORBIDDEN, extensions.saml_failure",
    "repeat_page": "pullRequests ignores `after` (a caching proxy)",
    "early_end": "a page after a cursor: no PRs, hasNextPage false, totalCount unchanged",
}
PR_FAULT_HELP = {
    "vanish": "node(id:) of that PR: null + NOT_FOUND (deleted since it was listed)",
    "null_cursor": "its reviews/comments: hasNextPage true, endCursor null",
    **ITEM_FAULT_HELP,  # wherever an answer carries that PR (item_faults.py)
}
REQUEST_FAULTS = tuple(REQUEST_FAULT_HELP)
REPO_FAULTS = tuple(REPO_FAULT_HELP)
PR_FAULTS = tuple(PR_FAULT_HELP)
FAULT_KINDS = REQUEST_FAULTS


def fault_help() -> str:
    """Every fault kind with its one line, for `simulate --help` (generated from the lists
    above: one source)."""
    lines = ["random per request (KIND:RATE) or aimed at a repository (KIND@OWNER/NAME[*N]):"]
    lines += [f"  {kind:<16} {text}" for kind, text in REQUEST_FAULT_HELP.items()]
    lines.append("aimed at a repository only, KIND@OWNER/NAME[*N]:")
    lines += [f"  {kind:<16} {text}" for kind, text in REPO_FAULT_HELP.items()]
    lines.append("aimed at one pull request only, KIND@OWNER/NAME#NUMBER[*N]:")
    lines += [f"  {kind:<16} {text}" for kind, text in PR_FAULT_HELP.items()]
    return "\n".join(lines)


_TARGET_RE = re.compile(
    r"^([a-z0-9_]+)(?:\.([a-z_]+))?@([^#*\s]+/[^#*\s]+)(?:#(\d+))?(?:\*(\d+))?$"
)


@dataclass
class RepoSpec:
    """A simulated repository with `prs` pull requests at start."""

    owner: str
    name: str
    prs: int

    @classmethod
    def parse(cls, text: str) -> RepoSpec:
        """`owner/name:500` → RepoSpec; raises ValueError with a message fit for users."""
        match = _REPO_RE.match(text.strip())
        if match is None:
            raise ValueError(
                f"invalid repository {text!r}: expected OWNER/NAME:PRS, e.g. acme/api:500"
            )
        owner, name, prs = match.group(1), match.group(2), int(match.group(3))
        if name in (".", ".."):
            raise ValueError(f"invalid repository name in {text!r}")
        return cls(owner=owner, name=name, prs=prs)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass(frozen=True)
class FaultSpec:
    """Probability (0..1) of each injected fault per GraphQL request; drawn from the seed.
    `targets`: faults aimed at a repository or a PR."""

    rates: dict[str, float] = field(default_factory=dict)
    targets: tuple[FaultTarget, ...] = ()

    @classmethod
    def parse(cls, text: str) -> FaultSpec:
        """`"502:0.1,saml@acme/api,vanish@acme/web#12,surrogate.login@acme/web#7,
        secondary@acme/x*3"`."""
        rates: dict[str, float] = {}
        targets: list[FaultTarget] = []
        for raw in filter(None, (p.strip() for p in text.split(","))):
            aimed = _TARGET_RE.match(raw.lower())
            if aimed is not None:
                kind, field_name, repo, number, times = aimed.groups()
                if kind not in REQUEST_FAULTS + REPO_FAULTS + PR_FAULTS:
                    raise ValueError(f"invalid fault {raw!r}: unknown kind {kind!r}")
                if field_name is not None and field_name not in FIELD_FAULTS.get(kind, ()):
                    raise ValueError(
                        f"invalid fault {raw!r}: {kind!r} takes no field {field_name!r}"
                        + (
                            f" (one of {', '.join(FIELD_FAULTS[kind])})"
                            if kind in FIELD_FAULTS
                            else ""
                        )
                    )
                if (kind in PR_FAULTS) != (number is not None):
                    raise ValueError(
                        f"invalid fault {raw!r}: "
                        + ("needs a PR number (#N)" if kind in PR_FAULTS else "takes no #N")
                    )
                targets.append(
                    FaultTarget(
                        kind,
                        repo,
                        int(number) if number else None,
                        int(times) if times else None,
                        field_name,
                    )
                )
                continue
            kind, sep, value = raw.partition(":")
            kind = kind.strip().lower()
            if not sep or kind not in FAULT_KINDS:
                raise ValueError(
                    f"invalid fault {raw!r}: expected KIND:RATE with KIND one of "
                    + ", ".join(FAULT_KINDS)
                )
            try:
                rate = float(value)
            except ValueError:
                raise ValueError(f"invalid fault rate in {raw!r}: not a number") from None
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"invalid fault rate in {raw!r}: must be between 0 and 1")
            rates[kind] = rates.get(kind, 0.0) + rate
        if sum(rates.values()) > 1.0 + 1e-9:
            raise ValueError("fault rates add up to more than 1")
        return cls(rates=rates, targets=tuple(targets))

    def pick(self, draw: float) -> str | None:
        """The fault for a uniform draw in [0, 1), or None (kinds in a fixed order)."""
        edge = 0.0
        for kind in FAULT_KINDS:
            edge += self.rates.get(kind, 0.0)
            if draw < edge:
                return kind
        return None


@dataclass
class SimConfig:
    """A simulated GitHub. Defaults are GitHub's (5,000 points/hour, 100 concurrent, 2,000
    secondary points/minute, 10 s timeout); tests shrink the window and move `clock`."""

    repos: list[RepoSpec]
    seed: int = 0
    limit: int = 5000
    window_seconds: float = 3600
    faults: FaultSpec | None = None
    tokens: frozenset[str] | None = None
    revoked_tokens: frozenset[str] = frozenset()
    max_concurrent: int = 100
    points_per_minute: int = 2000
    secondary_retry_after: int | None = 60
    latency_ms: float = 0
    clock: Callable[[], float] = time.time
    # Beyond the fixed interface: knobs for GitHub behaviours that need a threshold.
    rate_limit_style: Literal["classic", "new", "alternate"] = "classic"
    server_ms_per_node: float = 0.5  # simulated server time per object returned
    timeout_ms: float = 10_000  # simulated server time above which GitHub answers 502
    timeout_penalty_points: int = 10  # extra points charged for a timed-out query
    resource_limit_nodes: int = 15_000  # objects after which connections come back null
    cpu_seconds_per_minute: float | None = None  # GitHub's 60 s/min server-time limit; off
    # Server time of an answer: `server_ms_base + server_ms_per_node * objects` (GitHub's
    # time). With `serve_server_time` the answer takes that long (divided by `time_scale`).
    server_ms_base: float = 0.0
    serve_server_time: bool = False
    # Every duration divided by this (server time, the budget window, the secondary limits'
    # minute, retry-after): an hour of GitHub in minutes. Reports stay in GitHub's seconds.
    time_scale: float = 1.0
    # Secondary limits answered as GitHub does: 403 or 200 and `retry-after` only sometimes
    # (drawn from the seed); otherwise always 403 with `secondary_retry_after` if set.
    secondary_like_github: bool = False
    slow_seconds: float = 1.0  # real delay added by the `slow` fault
    trickle_seconds: float = 2.0  # between two bytes of a `trickle` answer
    huge_bytes: int = 100 * 1024 * 1024  # size of a `huge` answer
    # GitHub's App side (core.simulator.app): its installations, their budgets and tokens.
    app: AppSpec | None = None
    # REST (core.simulator.rest): each token's `core` budget an hour, and every Nth REST
    # request refused with a secondary limit (403, retry-after 1), 0 never.
    rest_limit: int = 5000
    rest_secondary_every: int = 0
    rest_secondary_status: int = 403  # GitHub answers a secondary limit 403 or 429

    @property
    def minute(self) -> float:
        """GitHub's one-minute window for secondary limits, in (scaled) real seconds."""
        return 60.0 / self.time_scale


# The `github` profile: GitHub's server-time behaviour, calibrated to public measurements.
#
# Source: public timings of rich pull-request pages (reviews, comments, labels, commit count)
# on api.github.com/graphql: 20 PRs 2.4 s, 30 PRs 2.9 s, 40 PRs 4.3 s, 50 PRs 4.9 s. A least-
# squares line through them: ~0.5 s per answer + ~89 ms per rich PR (8-10 PRs/s, 30,000-36,000
# PRs an hour per account at 60 s of server time per minute). The simulator's PRs served by
# the product's page query carry 44 objects each on average (PR, author, reviews and comments
# with their authors, labels, connections; measured over 2,000 PRs, seed 7), so 89 ms / 44 is
# ~2 ms of server time per object returned. GitHub's other numbers are its documented ones:
# requests over 10 s are killed (502 or 504, extra points charged), at most 60 s of server
# time per 60 s per account, answered 403 (sometimes 200) with retry-after only sometimes.
# GitHub publishes no node threshold for RESOURCE_LIMITS_EXCEEDED: 4,000 objects makes a
# 100-PR rich page (~4,400 objects, ~9 s) fail as such pages do on GitHub, while the
# points-cheapest 37-PR page (~1,600 objects, ~3.7 s; 2,700 at most) never does.
GITHUB_SERVER_MS_BASE = 500.0
GITHUB_SERVER_MS_PER_NODE = 2.0
GITHUB_RESOURCE_LIMIT_NODES = 4_000
GITHUB_SERVER_SECONDS_PER_MINUTE = 60.0
PROFILES = ("default", "github")


def apply_profile(config: SimConfig, profile: str, time_scale: float = 1.0) -> SimConfig:
    """`config` with a named profile's behaviour and a time scale (`simulate --profile`)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: one of {', '.join(PROFILES)}")
    if not time_scale > 0:
        raise ValueError("the time scale must be greater than 0")
    config.time_scale = time_scale
    config.window_seconds = config.window_seconds / time_scale
    if profile == "github":
        config.server_ms_base = GITHUB_SERVER_MS_BASE
        config.server_ms_per_node = GITHUB_SERVER_MS_PER_NODE
        config.serve_server_time = True
        config.cpu_seconds_per_minute = GITHUB_SERVER_SECONDS_PER_MINUTE
        config.resource_limit_nodes = GITHUB_RESOURCE_LIMIT_NODES
        config.secondary_like_github = True
    return config
