"""Lanes and routing: which budget (credential) a worker works a backfill with.

Personal tokens see every repository: a claim goes to the token with budget that holds the
fewest backfills. App installations each see their own repositories: claims are routed, so
a worker claims only what a budget with room can work now, and an installation whose budget
is spent never idles the others.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from core.backfill.options import PAGE_COST_ESTIMATE
from core.backfill.presence import Presence
from core.github.client import GitHubClient
from core.github.credentials import Credential, Credentials, NotVisible
from core.store.models import Lease
from core.store.store import Store


class LaneLike(Protocol):
    """What a worker needs of each credential (core.backfill.runtime.Lane)."""

    @property
    def credential(self) -> Credential | None: ...
    @property
    def client(self) -> GitHubClient: ...
    @property
    def presence(self) -> Presence: ...


@dataclass(eq=False)
class Lane:
    """One budget a worker draws on: a credential (a personal token or an App installation),
    its own client (budget, pre-flight check, server-time pacing) and its own presence (the
    budget and waits it publishes, keyed by the credential's fingerprint), and how many
    backfills this worker works through it right now."""

    client: GitHubClient
    presence: Presence
    credential: Credential | None = None
    holding: int = 0

    @property
    def installation_id(self) -> int | None:
        return self.credential.installation_id if self.credential is not None else None

    @property
    def name(self) -> str:
        return self.credential.name if self.credential is not None else "the token"

    def ready(self) -> bool:
        """What its client knows leaves the reserve untouched by a page (unknown: ready)."""
        return self.client.within_budget(PAGE_COST_ESTIMATE)

    def resets_at(self) -> datetime:
        """When its budget is full again (GitHub's clock); now when unknown."""
        metrics = self.client.metrics
        return metrics.reset_at if metrics is not None else self.client.github_now()

    def remaining(self) -> int:
        metrics = self.client.metrics
        return metrics.remaining if metrics is not None else 1 << 30


@dataclass(frozen=True)
class Routed:
    """Work the lease with `lane`; `routed_now`: the installation it was just routed to."""

    lane: Lane
    routed_now: int | None = None


@dataclass(frozen=True)
class RoutedElsewhere:
    """Routed to an installation this process has no credential for: left for another."""

    installation: int
    routed_now: int | None = None


@dataclass(frozen=True)
class SeenByNoInstallation:
    """No installation sees the repository: its backfill fails with `reason`."""

    reason: str


Route = Routed | RoutedElsewhere | SeenByNoInstallation


class Lanes:
    """The worker's lanes and how a claim is routed among them."""

    def __init__(self, lanes: Sequence[Lane], credentials: Credentials | None) -> None:
        self.all = list(lanes)
        self.credentials = credentials
        self.routed = any(lane.installation_id is not None for lane in self.all)

    def __iter__(self) -> Iterator[Lane]:
        return iter(self.all)

    def ready(self) -> list[Lane]:
        return [lane for lane in self.all if lane.ready()]

    def idle_besides(self, spent: Lane) -> list[Lane]:
        """Lanes other than `spent` with budget and no slot of this worker on them."""
        return [o for o in self.all if o is not spent and o.holding == 0 and o.ready()]

    def routing(self, lanes: Sequence[Lane] | None = None) -> list[int] | None:
        """The `installations` argument of a claim that `lanes` may work; None: not routed."""
        if not self.routed:
            return None
        chosen = self.all if lanes is None else lanes
        return [lane.installation_id for lane in chosen if lane.installation_id is not None]

    def claim_groups(self) -> list[list[Lane]]:
        """The lanes to claim for, in turn: those with budget and the fewest backfills in hand,
        then all those with budget, then (every budget spent) the one that resets first, whose
        backfill is then waited on as with a single token."""
        ready = self.ready()
        groups: list[list[Lane]] = []
        if ready:
            least = min(lane.holding for lane in ready)
            idle = [lane for lane in ready if lane.holding == least]
            groups.append(idle)
            if len(idle) < len(ready) and self.routed:
                groups.append(ready)
        else:
            groups.append([min(self.all, key=Lane.resets_at)])
        return groups

    @staticmethod
    def best(lanes: Sequence[Lane]) -> Lane:
        """Of equivalent lanes (personal tokens): the least busy, then the most budget left."""
        return min(lanes, key=lambda lane: (lane.holding, -lane.remaining()))

    def by_installation(self, installation_id: int) -> Lane | None:
        for lane in self.all:
            if lane.installation_id == installation_id:
                return lane
        return None

    async def route(self, store: Store, lease: Lease, group: Sequence[Lane]) -> Route:
        """The lane of the installation that sees the leased repository. A repository added
        before routing is routed now (GET /repos/{owner}/{repo}/installation, remembered)."""
        if not self.routed:
            return Routed(self.best(group))
        installation = lease.installation_id
        routed_now = None
        if installation is None:
            if self.credentials is None:
                return Routed(self.best(group))
            try:
                installation = await self.credentials.installation_for(lease.owner, lease.name)
            except NotVisible as exc:
                return SeenByNoInstallation(str(exc))
            if installation is None:  # not an App after all: any credential will do
                return Routed(self.best(group))
            await store.route_repository(lease.repository_id, installation)
            routed_now = installation
        lane = self.by_installation(installation)
        if lane is None:
            return RoutedElsewhere(installation, routed_now)
        return Routed(lane, routed_now)

    def waiting_until(self) -> datetime | None:
        """When this process's budget wait ends: only when every lane holding work waits."""
        waits = [lane.presence.waiting_until for lane in self.all if lane.holding]
        if not waits or any(w is None for w in waits):
            return None
        return min(w for w in waits if w is not None)
