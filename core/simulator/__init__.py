"""A faithful stand-in for GitHub's GraphQL API, for tests, demos and benchmarks.

`Simulator(SimConfig(...))` answers like api.github.com/graphql: GitHub's schema (a subset),
cost rule, budgets, headers, error shapes, secondary limits, timeouts and injected faults.
Use it in-process (`sim.transport()`) or over HTTP (`serve(sim)` or `backfill-console
simulate`). Never imports textual.

The names below load on first use (PEP 562): a CLI command that only reads the database
must not pay for the simulator's modules (~0.3 s of its start).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import FaultSpec, RepoSpec, SimConfig
    from .responses import SimResponse
    from .server import serve
    from .simulator import Simulator

_WHERE = {
    "FaultSpec": ".config",
    "RepoSpec": ".config",
    "SimConfig": ".config",
    "SimResponse": ".responses",
    "serve": ".server",
    "Simulator": ".simulator",
}

__all__ = ["FaultSpec", "RepoSpec", "SimConfig", "SimResponse", "Simulator", "serve"]


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'core.simulator' has no attribute {name!r}")
    return getattr(importlib.import_module(where, __name__), name)
