"""The simulated GitHub GraphQL endpoint: one pure `handle()` that both servers wrap.

Order of checks, as GitHub applies them: credentials (401) → secondary limits (403) →
injected infrastructure faults (502/504/reset) → request body → parse/validate (200 + errors,
free) → cost and node limit → primary budget (200 + RATE_LIMITED, or charge) → execution →
server time (502 past the timeout, points still charged) → response with `x-ratelimit-*`
headers. The whole of `handle()` runs under one lock, so budgets and statistics stay exact
with a threaded server; it never sleeps (servers honour `SimResponse.delay`).

With `SimConfig.app`, GitHub's App side too (core.simulator.app): its REST endpoints are
answered before GraphQL, and an installation token is checked first (expired → 401), budgeted
per installation, and sees only its owners' repositories.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs

from graphql import FieldNode, FragmentDefinitionNode, OperationDefinitionNode, execute_sync
from graphql.execution.collect_fields import collect_fields
from graphql.execution.values import get_argument_values

from core.github.cost import MAX_NODES, estimate_cost, node_limit_connection
from core.secrets import fingerprint

from . import item_faults
from . import responses as R
from .app import SimApp
from .config import PR_FAULTS, REPO_FAULTS, REQUEST_FAULTS, FaultTarget, SimConfig
from .data import USER_POOL, Draw
from .evolve import evolve as evolve_repo
from .evolve import truth as repo_truth
from .executor import Execution
from .ids import parse_node_id
from .limits import Budgets, TokenState
from .resolvers import RESOLVERS, RequestContext, World
from .rest import RestApi
from .schema import load_schema
from .threads import totals as thread_totals
from .transport import SimAsyncTransport, SimSyncTransport
from .validation import QueryCache

GRAPHQL_PATHS = ("/graphql", "/api/graphql")
INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})
# Request-level shapes answered instead of executing the query (nothing charged).
_ANSWERED_INSTEAD = frozenset({"secondary", "secondary_text", "message_limit", "went_wrong"})
STATS_PATH = "/_sim/stats"
_INSTALLATION_KEY = "installation:"  # budget key of an installation's tokens
EVOLVE_PATH = "/_sim/evolve"
TRUTH_PATH = "/_sim/truth"


def _dry(value: Any):
    def resolve(ex, source, args, path, nodes):
        return value

    return resolve


DRY_RUN_RESOLVERS = {
    **RESOLVERS,
    ("Query", "repository"): _dry(None),
    ("Query", "node"): _dry(None),
    ("Query", "nodes"): _dry([]),
}


class Simulator:
    """GitHub's GraphQL API for one `SimConfig`; deterministic for a given request sequence."""

    def __init__(self, config: SimConfig) -> None:
        if len(config.repos) > 1000:
            raise ValueError("the simulator supports at most 1,000 repositories")
        self.config = config
        self.schema = load_schema()
        self.world = World(config.repos, config.seed)
        self.queries = QueryCache(self.schema)
        self.budgets = Budgets(config)
        self._lock = threading.RLock()
        self._seq = 0
        self._graphql_seq = 0
        self._requests = 0
        self._pages: dict[str, Counter[str]] = defaultdict(Counter)
        self._faults: Counter[str] = Counter()
        self._outcomes: Counter[str] = Counter()
        # (reviews, comments, review threads, review comments) per (repository, PR count)
        self._totals: dict[tuple[str, int], tuple[int, int, int, int]] = {}
        self._aimed_used: Counter[int] = Counter()
        self._current: TokenState | None = None  # whose request is being handled
        self.rest = RestApi(
            lambda owner, name: self.world.by_name.get(f"{owner}/{name}".lower()),
            config.rest_limit,
            config.rest_secondary_every,
            config.rest_secondary_status,
        )
        self.app = (
            SimApp(config.app, config.clock, config.time_scale, config.seed)
            if config.app is not None
            else None
        )

    # --- public API -----------------------------------------------------------------------

    def transport(self) -> SimAsyncTransport:
        """An httpx async transport answered in-process by `handle` (no sockets)."""
        return SimAsyncTransport(self.handle)

    def sync_transport(self) -> SimSyncTransport:
        """`transport` for httpx's synchronous client."""
        return SimSyncTransport(self.handle)

    def add_pull_requests(self, repo: str, count: int) -> None:
        """`count` new PRs appear in `repo` (newest createdAt), as during a live backfill."""
        with self._lock:
            found = self.world.by_name.get(repo.lower())
            if found is None:
                raise KeyError(f"unknown simulated repository {repo!r}")
            if count < 0:
                raise ValueError("count must be >= 0")
            found.count += count

    def override_pull_request(self, repo: str, index: int, **fields: Any) -> None:
        """Serve PR `index` (0 = oldest) of `repo` with these field values instead of the
        generated ones (e.g. `title=..., body=...`): odd, huge or hostile data for tests."""
        with self._lock:
            found = self.world.by_name.get(repo.lower())
            if found is None:
                raise KeyError(f"unknown simulated repository {repo!r}")
            found.overrides.setdefault(index, {}).update(fields)

    def rename_repository(self, old: str, new: str) -> None:
        """Rename (or transfer) `old` to `new` as GitHub does: same node id and pull requests,
        and the old name still resolves to it (GitHub redirects it)."""
        owner, _, name = new.partition("/")
        with self._lock:
            repo = self.world.by_name.get(old.lower())
            if repo is None:
                raise KeyError(f"unknown simulated repository {old!r}")
            repo.owner, repo.name, repo.full_name = owner, name, new
            repo.url = f"https://github.com/{new}"
            self.world.by_name[new.lower()] = repo
            self.world.forget_repo_object(repo)

    def evolve(
        self,
        repo: str,
        changed: int = 0,
        new: int = 0,
        seed: int = 0,
        edit_comments: int = 0,
        delete_comments: int = 0,
        touch_pr: bool = False,
    ) -> dict[str, Any]:
        """GitHub moves on: `changed` existing PRs of `repo` change (state, title, labels,
        reviews and comments added, some comments deleted; `updatedAt` moves) and `new` PRs
        appear; `edit_comments`/`delete_comments` conversation comments, and as many inline
        review comments, are edited/deleted without moving their PRs' `updatedAt` unless
        `touch_pr`. Same seed on the same
        state, same changes. Same JSON as POST /_sim/evolve."""
        with self._lock:
            found = self.world.by_name.get(repo.lower())
            if found is None:
                raise KeyError(f"unknown simulated repository {repo!r}")
            report = evolve_repo(
                found,
                changed,
                new,
                seed,
                self.config.clock(),
                edit_comments=edit_comments,
                delete_comments=delete_comments,
                touch_pr=touch_pr,
            )
            self._totals.clear()
            return report

    def truth(self, repo: str, bodies: bool = False) -> dict[str, Any]:
        """Every PR of `repo` as GitHub holds it now (with `bodies`, every comment's and review
        comment's body and updatedAt by node id); same JSON as GET /_sim/truth?repo=[&bodies=1]."""
        with self._lock:
            found = self.world.by_name.get(repo.lower())
            if found is None:
                raise KeyError(f"unknown simulated repository {repo!r}")
            return repo_truth(found, bodies)

    def expire_installation_tokens(self) -> None:
        """Every installation token issued so far stops working now (as when GitHub revokes
        them, or they outlive their hour): the next request with one is answered 401."""
        with self._lock:
            if self.app is not None:
                self.app.expire_all()

    def stats(self) -> dict[str, Any]:
        """Ground truth of what was served; same JSON as GET /_sim/stats. Budgets of personal
        tokens under `tokens` (by fingerprint); an App's under `installations` (by id)."""
        with self._lock:
            now = self.config.clock()
            tokens = {}
            installations = {}
            for token, state in self.budgets.tokens.items():
                start, used = state.window_start, state.used
                expired = start is None or now >= start + self.config.window_seconds
                entry = {
                    "points_used": state.points_total,
                    "requests": state.requests,
                    "remaining": state.limit if expired else max(0, state.limit - used),
                    "limit": state.limit,
                    # GitHub's seconds (before time scaling): all, and the most in one minute
                    "server_seconds": round(state.server_seconds, 3),
                    "server_seconds_peak_minute": round(state.server_peak, 3),
                    # when each secondary-limit answer came: GitHub's seconds after the first
                    "secondary_at": list(state.secondary_at),
                    # first request to last answer, GitHub's seconds
                    "span_seconds": round(
                        ((state.last_at or now) - (state.first_at or now)) * self.config.time_scale,
                        3,
                    ),
                }
                if token.startswith(_INSTALLATION_KEY):
                    installations[token.removeprefix(_INSTALLATION_KEY)] = entry
                else:
                    tokens[fingerprint(token)] = entry
            if self.app is not None:
                for spec in self.app.spec.installations:
                    entry = installations.setdefault(
                        str(spec.id),
                        {
                            "points_used": 0,
                            "requests": 0,
                            "remaining": self.app.spec.installation_limit,
                            "limit": self.app.spec.installation_limit,
                            "server_seconds": 0.0,
                            "server_seconds_peak_minute": 0.0,
                            "secondary_at": [],
                            "span_seconds": 0.0,
                        },
                    )
                    entry["account"] = spec.account
                    entry["owners"] = list(spec.owners)
                    entry["tokens_issued"] = self.app.tokens_issued.get(spec.id, 0)
            states = list(self.budgets.tokens.values())
            firsts = [st.first_at for st in states if st.first_at is not None]
            lasts = [st.last_at for st in states if st.last_at is not None]
            span = (max(lasts) - min(firsts)) * self.config.time_scale if firsts and lasts else 0
            reviews, comments, threads, review_comments = {}, {}, {}, {}
            for repo in self.world.repos:
                key = (repo.full_name, repo.count)
                if key not in self._totals:
                    self._totals[key] = repo.totals() + thread_totals(repo)
                (
                    reviews[repo.full_name],
                    comments[repo.full_name],
                    threads[repo.full_name],
                    review_comments[repo.full_name],
                ) = self._totals[key]
            return {
                "tokens": tokens,
                "installations": installations,
                "app_refusals": dict(self.app.refused) if self.app is not None else {},
                "requests": self._requests,
                "pages": {repo: dict(keys) for repo, keys in self._pages.items()},
                "prs": {r.full_name: r.count for r in self.world.repos},
                "reviews": reviews,
                "comments": comments,
                "review_threads": threads,
                "review_comments": review_comments,
                "faults": dict(self._faults),
                "outcomes": dict(self._outcomes),
                # every token's: the first request to the last answer, GitHub's seconds
                "span_seconds": round(span, 3),
                # REST: every request (304s included) and its outcomes; `core` used per token
                "rest": dict(self.rest.counts)
                | {"used": {fingerprint(t): b.used for t, b in self.rest.budgets.items()}},
            }

    def handle(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        received: tuple[float, float] | None = None,
    ) -> R.SimResponse:
        """One request's answer. `received` is (config.clock(), time.perf_counter()) when
        its request line was read (the HTTP server stamps it); now if not given.

        GitHub serves requests side by side: a request is judged (secondary limits, the
        minute its server time counts in) and answered from its arrival, not from when this
        single-threaded simulator gets to it; waiting here for another answer (or for the
        interpreter while another is built) would add to its response time and move it into
        a later minute (at --time-scale 20 a 100 ms wait is 2 s of GitHub's time)."""
        arrived, started = received or (self.config.clock(), time.perf_counter())
        with self._lock:
            self._current = None
            path, _, query = path.partition("?")
            if path in (EVOLVE_PATH, TRUTH_PATH):
                response = self._control(method.upper(), path, query, body)
            else:
                response = self._handle(method.upper(), path, headers, body, arrived, query)
            server = response.meta.get("server_seconds")
            if server is not None and self.config.serve_server_time:
                # The answer takes its server time (scaled) from its arrival, what was spent
                # here (and waiting for the lock) included.
                spent = time.perf_counter() - started
                response.delay += max(0.0, server / self.config.time_scale - spent)
            if self._current is not None:  # the token's latest answer ends then
                self._current.last_at = self.config.clock() + response.delay
            # GitHub's clock, as every GitHub answer carries it (clients estimate skew from it)
            response.headers.setdefault("date", formatdate(self.config.clock(), usegmt=True))
            return response

    def _control(self, method: str, path: str, query: str, body: bytes) -> R.SimResponse:
        """POST /_sim/evolve {"repo", "changed", "new", "seed"}; GET /_sim/truth?repo=O/N."""
        plain = {"content-type": "application/json; charset=utf-8"}
        try:
            if path == EVOLVE_PATH and method == "POST":
                asked = json.loads(body or b"{}")
                if not isinstance(asked, dict) or not isinstance(asked.get("repo"), str):
                    raise ValueError(
                        'send {"repo": "OWNER/NAME", "changed": K, "new": M, "seed": S}'
                    )
                counts = ("changed", "new", "seed", "edit_comments", "delete_comments")
                numbers = {k: asked.get(k, 0) for k in counts}
                if not all(type(v) is int for v in numbers.values()):
                    raise ValueError(", ".join(counts) + " must be integers")
                touch = asked.get("touch_pr", False)
                if type(touch) is not bool:
                    raise ValueError("touch_pr must be true or false")
                report = self.evolve(asked["repo"], **numbers, touch_pr=touch)
                return R.SimResponse(200, dict(plain), R.dump(report))
            if path == TRUTH_PATH and method == "GET":
                asked_for = parse_qs(query)
                repo = asked_for.get("repo", [""])[0]
                bodies = asked_for.get("bodies", ["0"])[0] not in ("", "0", "false")
                return R.SimResponse(200, dict(plain), R.dump(self.truth(repo, bodies)))
            return R.SimResponse(405, dict(plain), R.dump({"message": "Method not allowed"}))
        except KeyError as exc:
            return R.SimResponse(404, dict(plain), R.dump({"message": str(exc.args[0])}))
        except ValueError as exc:
            return R.SimResponse(400, dict(plain), R.dump({"message": str(exc)}))

    # --- the pipeline ---------------------------------------------------------------------

    def _handle(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        now: float,
        query: str = "",
    ):
        self._seq += 1
        request_id = self._request_id(self._seq)
        anonymous = R.RateSnapshot(limit=0, used=0, reset_at=now)
        if method == "GET" and path == STATS_PATH:
            stats = R.dump(self.stats())
            return R.SimResponse(200, R.headers(request_id, anonymous), stats)
        if self.app is not None and self.app.handles(path):
            self._outcomes["app"] += 1
            return self.app.handle(
                method, path, query, headers, request_id, self._repository_exists
            )
        if self.rest.handles(method, path):
            token = self._token(headers)
            if token is None:
                return R.SimResponse(
                    401, R.headers(request_id, anonymous), R.dump(R.bad_credentials())
                )
            host = next((v for k, v in headers.items() if k.lower() == "host"), "localhost")
            return self.rest.handle(path, query, headers, token, now, host)
        if path.rstrip("/") not in GRAPHQL_PATHS or method != "POST":
            return R.SimResponse(404, R.headers(request_id, anonymous), R.dump(R.not_found()))
        self._requests += 1
        token = self._token(headers)
        owners: frozenset[str] | None = None
        limit: int | None = None
        if token is not None and self.app is not None:
            installation = self.app.installation_of(token)
            if installation is False:  # expired, or never issued
                token = None
            elif installation is not None and installation is not True:
                owners = frozenset(o.lower() for o in installation.owners)
                limit = self.app.spec.installation_limit
                token = f"{_INSTALLATION_KEY}{installation.id}"  # one budget for its tokens
        if token is None:
            self._outcomes["401"] += 1
            return R.SimResponse(401, R.headers(request_id, anonymous), R.dump(R.bad_credentials()))
        state = self.budgets.state(token, limit)
        state.requests += 1
        if state.first_at is None:
            state.first_at = now
        self._current = state
        rate = self.budgets.snapshot(state, now)
        self._graphql_seq += 1
        fault = self._fault(self._graphql_seq)
        touched = self._touched(body)
        if fault is None and touched:
            fault = self.aimed(REQUEST_FAULTS, touched)
        if fault in ("secondary", "secondary_text"):
            self._faults[fault] += 1
            self._outcomes["secondary:fault"] += 1
            if fault == "secondary_text":
                text_headers = R.headers(request_id, rate, {"content-type": "text/plain"})
                return R.SimResponse(403, text_headers, R.SECONDARY_TEXT)
            return self._secondary(request_id, rate, state, now)
        delay = self.config.latency_ms / 1000 + (self.config.slow_seconds if fault == "slow" else 0)

        reason = self.budgets.secondary_reason(state, now)
        if reason is not None:
            self._outcomes[f"secondary:{reason}"] += 1
            return self._secondary(request_id, rate, state, now)
        self.budgets.admit(state, now, delay)
        hdrs = R.headers(request_id, rate)
        if fault in ("502", "504", "reset"):
            self._faults[fault] += 1
            if fault == "reset":
                return R.SimResponse(0, hdrs, b"", delay=delay, reset=True)
            payload = R.timeout_502(request_id) if fault == "502" else R.timeout_504()
            return R.SimResponse(int(fault), hdrs, R.dump(payload), delay=delay)
        if fault in _ANSWERED_INSTEAD:
            self._faults[fault] += 1
            if fault == "message_limit":
                limited = R.headers(request_id, rate, {"x-ratelimit-remaining": "0"})
                body_out = R.dump(R.message_rate_limit(state.user_id))
                return R.SimResponse(200, limited, body_out, delay=delay)
            return R.SimResponse(200, hdrs, R.dump(R.went_wrong(request_id)), delay=delay)
        response = self._graphql(body, state, rate, request_id, fault, now, owners)
        response.delay += delay
        if fault == "slow":
            self._faults["slow"] += 1
        if fault in ("bad_encoding", "trickle", "huge") and response.status == 200:
            self._faults[fault] += 1
            if fault == "bad_encoding":
                response.headers["content-encoding"] = "gzip"  # the body is not gzip
            elif fault == "trickle":
                response.trickle = self.config.trickle_seconds
            else:
                response.pad = max(0, self.config.huge_bytes - len(response.body))
        if touched and response.status == 200:
            response.body = self._break_items(response.body, body, touched)
        if fault == "malformed" and response.status == 200:
            self._faults["malformed"] += 1
            response.body = response.body[: max(1, len(response.body) // 2)]
        elif response.meta.get("pages"):
            for repo, key in response.meta["pages"]:
                self._pages[repo][key] += 1
        return response

    def _graphql(
        self,
        body: bytes,
        state: TokenState,
        rate: R.RateSnapshot,
        request_id: str,
        fault: str | None,
        now: float,
        owners: frozenset[str] | None = None,
    ) -> R.SimResponse:
        def reply(payload: Any, status: int = 200, snap: R.RateSnapshot = rate) -> R.SimResponse:
            return R.SimResponse(status, R.headers(request_id, snap), R.dump(payload))

        try:
            payload = json.loads(body or b"null")
        except (UnicodeDecodeError, json.JSONDecodeError):
            return reply(R.problems_parsing_json(), 400)
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            message = "A query attribute must be specified and must be a string."
            return reply({"errors": [{"message": message}]})
        variables = payload.get("variables") or {}
        op_name = payload.get("operationName") or None
        if not isinstance(variables, dict):
            return reply({"errors": [{"message": "Variables must be an object."}]})

        prepared = self.queries.prepare(payload["query"])
        if prepared.document is None:
            self._outcomes["invalid"] += 1
            return reply({"errors": prepared.errors})
        document = prepared.document
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        chosen = [o for o in operations if op_name is None or (o.name and o.name.value == op_name)]
        if len(chosen) != 1:
            message = (
                f'No operation named "{op_name}"'
                if op_name
                else "An operation name is required when the document has several operations."
            )
            return reply({"errors": [{"message": message}]})
        operation = chosen[0]
        coerced = Execution.coerce_variables(self.schema, operation, variables)
        if isinstance(coerced, list):
            return reply({"errors": [_variable_error(e) for e in coerced]})

        cost = estimate_cost(document, coerced, op_name)
        if cost.node_count > MAX_NODES:
            self._outcomes["node_limit"] += 1
            connection = node_limit_connection(document, coerced, op_name) or "?"
            return reply(R.node_limit(connection, cost.node_count))

        dry_run = self._dry_run(document, operation, coerced)
        if not dry_run:
            if rate.remaining == 0 or cost.cost > rate.remaining:
                self._outcomes["rate_limited"] += 1
                return reply(R.rate_limited(state.user_id, self._limit_style()))
            self.budgets.charge(state, cost.cost)
            rate = self.budgets.snapshot(state, now)
        rate_limit = {
            "cost": cost.cost,
            "limit": rate.limit,
            "nodeCount": cost.node_count,
            "remaining": rate.remaining,
            "used": rate.used,
            "resetAt": rate.reset_iso,
        }
        resource_limit = self.config.resource_limit_nodes
        if fault == "partial":
            self._faults["partial"] += 1
            resource_limit = 2 + Draw(self.config.seed, "partial", self._graphql_seq).below(40)
        viewer = self.world.actors.user((USER_POOL - state.user_id) % USER_POOL)
        context = RequestContext(
            self.world, rate_limit, viewer, resource_limit, self._aimed_at, owners=owners
        )
        execution = Execution(
            self.schema,
            document,
            operation,
            coerced,
            DRY_RUN_RESOLVERS if dry_run else RESOLVERS,
            context,
        )
        data = execution.run()
        if data is not None:
            self._introspect(document, operation, variables, op_name, data)

        cfg = self.config
        server_ms = cfg.latency_ms + cfg.server_ms_base + execution.objects * cfg.server_ms_per_node
        if server_ms > cfg.timeout_ms and not dry_run:
            # GitHub kills the query at its timeout: that much server time, extra points.
            self.budgets.record_server_time(state, now, cfg.timeout_ms / 1000)
            self._outcomes["timeout"] += 1
            self.budgets.charge(state, cfg.timeout_penalty_points)
            snap = self.budgets.snapshot(state, now)
            if cfg.secondary_like_github and Draw(cfg.seed, "kill", self._graphql_seq).below(2):
                killed = reply(R.timeout_504(), 504, snap)
            else:
                killed = reply(R.timeout_502(request_id), 502, snap)
            killed.meta["server_seconds"] = cfg.timeout_ms / 1000
            return killed
        self.budgets.record_server_time(state, now, server_ms / 1000)
        result: dict[str, Any] = {"data": data}
        if execution.errors:
            result["errors"] = execution.errors
        response = reply(result, 200, rate)
        response.meta["pages"] = context.pages
        response.meta["server_seconds"] = server_ms / 1000
        self._outcomes["ok"] += 1
        return response

    # --- helpers ----------------------------------------------------------------------------

    def aimed(self, kinds: tuple[str, ...], repos: set[str], number: int | None = None):
        """The first fault aimed at one of `repos` (and PR `number`) still to be served."""
        spec = self.config.faults
        if spec is None:
            return None
        for i, target in enumerate(spec.targets):
            if target.kind not in kinds or target.repo not in repos:
                continue
            if number is not None and target.number != number:
                continue
            if target.times is not None and self._aimed_used[i] >= target.times:
                continue
            self._aimed_used[i] += 1
            if target.kind not in REQUEST_FAULTS:
                self._faults[target.kind] += 1
            return target.kind
        return None

    def _break_items(self, response: bytes, request: bytes, touched: set[str]) -> bytes:
        """The faults aimed at one PR's own data (item_faults.py) applied to an answer: that
        PR broken wherever the answer carries it, the rest intact."""
        spec = self.config.faults
        if spec is None or not any(t.kind in item_faults.ITEM_FAULTS for t in spec.targets):
            return response
        aimed = [
            (i, t)
            for i, t in enumerate(spec.targets)
            if t.kind in item_faults.ITEM_FAULTS and t.repo in touched
        ]

        def aimed_at(number: int) -> list[FaultTarget]:
            return [
                t
                for i, t in aimed
                if t.number == number and (t.times is None or self._aimed_used[i] < t.times)
            ]

        def serve(target: FaultTarget) -> None:
            index = next(i for i, t in aimed if t is target)
            self._aimed_used[index] += 1
            self._faults[target.kind] += 1

        try:
            variables = json.loads(request or b"null").get("variables") or {}
        except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            variables = {}
        number_of = item_faults.pr_number_of(self.world)
        return item_faults.apply(response, variables, number_of, aimed_at, serve)

    def _aimed_at(self, kind: str, repo: str, number: int | None = None) -> bool:
        """For resolvers: is `kind` aimed at this repository (or PR) now?"""
        kinds = (kind,) if kind in REPO_FAULTS + PR_FAULTS else ()
        return self.aimed(kinds, {repo.lower()}, number) is not None

    def _touched(self, body: bytes) -> set[str]:
        """Repositories a request names (owner/name variables, node ids): where aimed
        faults apply. Nothing is parsed when no fault is aimed."""
        spec = self.config.faults
        if spec is None or not spec.targets:
            return set()
        try:
            payload = json.loads(body or b"null")
        except (UnicodeDecodeError, json.JSONDecodeError):
            return set()
        variables = payload.get("variables") if isinstance(payload, dict) else None
        if not isinstance(variables, dict):
            return set()
        out: set[str] = set()
        owner, name = variables.get("owner"), variables.get("name")
        if isinstance(owner, str) and isinstance(name, str):
            out.add(f"{owner}/{name}".lower())
        for value in variables.values():
            parsed = parse_node_id(value) if isinstance(value, str) else None
            if parsed is not None and parsed[1] < len(self.world.repos):
                out.add(self.world.repos[parsed[1]].full_name.lower())
        return out

    def _introspect(self, document, operation, variables, op_name, data: dict[str, Any]) -> None:
        """`__schema` / `__type` at the root, answered by graphql-core's introspection (GitHub
        answers introspection; the fast executor leaves those keys empty)."""
        names = {
            s.alias.value if s.alias else s.name.value
            for s in operation.selection_set.selections
            if isinstance(s, FieldNode) and s.name.value in INTROSPECTION_FIELDS
        }
        if not names:
            return
        result = execute_sync(
            self.schema, document, variable_values=variables, operation_name=op_name
        )
        for key in names:
            data[key] = (result.data or {}).get(key)

    def _repository_exists(self, owner: str, name: str) -> bool:
        return f"{owner}/{name}".lower() in self.world.by_name

    def _token(self, headers: Mapping[str, str]) -> str | None:
        value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        scheme, _, token = value.strip().partition(" ")
        token = token.strip()
        if scheme.lower() not in ("bearer", "token") or not token:
            return None
        if token in self.config.revoked_tokens:
            return None
        if self.config.tokens is not None and token not in self.config.tokens:
            return None
        return token

    def _fault(self, n: int) -> str | None:
        spec = self.config.faults
        if spec is None or not spec.rates:
            return None
        return spec.pick(Draw(self.config.seed, "fault", n).below(1_000_000) / 1_000_000)

    def _secondary(
        self, request_id: str, rate: R.RateSnapshot, state: TokenState, now: float
    ) -> R.SimResponse:
        """A secondary-limit answer: 403 with `retry-after` (if configured), or as GitHub
        answers it, 403 or 200 with `retry-after` only sometimes. Seconds are time-scaled."""
        cfg = self.config
        since = now - (state.first_at if state.first_at is not None else now)
        state.secondary_at.append(round(since * cfg.time_scale, 3))
        extra: dict[str, str] = {}
        status = 403
        retry_after = cfg.secondary_retry_after
        if cfg.secondary_like_github:
            draw = Draw(cfg.seed, "secondary", self._seq)
            status = 200 if draw.below(3) == 0 else 403
            if draw.below(2) == 0:
                retry_after = None
        if retry_after is not None and cfg.time_scale != 1:
            retry_after = max(1, math.ceil(retry_after / cfg.time_scale))
        if retry_after is not None:
            extra["retry-after"] = str(retry_after)
        return R.SimResponse(
            status, R.headers(request_id, rate, extra), R.dump(R.secondary_limit(request_id))
        )

    def _limit_style(self) -> str:
        style = self.config.rate_limit_style
        if style == "alternate":
            return "new" if Draw(self.config.seed, "style", self._seq).below(2) else "classic"
        return style

    def _request_id(self, n: int) -> str:
        d = Draw(self.config.seed, "request-id", n)
        return (
            f"{d.below(0x10000):04X}:{d.below(0x10000):04X}:{d.below(0x1000000):06X}:"
            f"{d.below(0x1000000):06X}:{d.below(0x100000000):08X}"
        )

    def _dry_run(self, document, operation: OperationDefinitionNode, variables) -> bool:
        root = self.schema.query_type
        assert root is not None
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        fields = collect_fields(self.schema, fragments, variables, root, operation.selection_set)
        for nodes in fields.values():
            node: FieldNode = nodes[0]
            if node.name.value != "rateLimit":
                continue
            args = get_argument_values(root.fields["rateLimit"], node, variables)
            if args.get("dryRun"):
                return True
        return False


def _variable_error(error: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if error.extensions:
        out["extensions"] = error.extensions
    out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations or ()]
    out["message"] = error.message
    return out
