"""A fault aimed at one repository or PR: what `FaultSpec.parse` (config.py) reads and the
simulator and item_faults.py apply. Its own module so that both can use it without importing
each other."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FaultTarget:
    """A fault aimed at one repository (and PR number), for its first `times` requests."""

    kind: str
    repo: str  # owner/name, lower case
    number: int | None = None
    times: int | None = None
    field: str | None = None  # KIND.FIELD: which of the PR's texts (item_faults.FIELD_FAULTS)
