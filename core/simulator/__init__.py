"""A faithful stand-in for GitHub's GraphQL API, for tests, demos and benchmarks.

`Simulator(SimConfig(...))` answers like api.github.com/graphql: GitHub's schema (a subset),
cost rule, budgets, headers, error shapes, secondary limits, timeouts and injected faults.
Use it in-process (`sim.transport()`) or over HTTP (`serve(sim)` or `backfill-console
simulate`). Never imports textual.
"""

from .config import FaultSpec, RepoSpec, SimConfig
from .responses import SimResponse
from .server import serve
from .simulator import Simulator

__all__ = ["FaultSpec", "RepoSpec", "SimConfig", "SimResponse", "Simulator", "serve"]
