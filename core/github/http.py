"""One GraphQL request to GitHub: sent within the pacer's server-time budget, bounded in time
and size, its answer classified (`core.github.outcomes.decide`) and retried where GitHub's
rules say a retry helps; every other failure is raised as one error type from
`core.github.errors`. The token is only ever put in the request header."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from pydantic import SecretStr

from core.github.budget_gate import BudgetGate, PrimaryLimited
from core.github.credentials import Credential
from core.github.errors import (
    AuthenticationError,
    BackfillRefused,
    EndpointMissing,
    GraphQLError,
    ResourceLimitsExceeded,
    SecondaryRateLimitError,
    TransientError,
)
from core.github.metrics import MAX_RESET_AHEAD
from core.github.outcomes import (
    SHRINK_TYPES,
    Action,
    AnswerDeadline,
    AnswerTooLarge,
    Outcome,
    decide,
)

log = logging.getLogger("core.github")

TRANSIENT_BASE_WAIT = 1.0
TRANSIENT_MAX_WAIT = 30.0
REQUEST_DEADLINE = 60.0  # whole request, send to last byte (GitHub itself stops at 10 s)
MAX_ANSWER_BYTES = 64 * 1024 * 1024  # a full page with long bodies is a few MB
# The httpx request extension set on a request a fetch ahead sends (for transports that care).
AHEAD_EXTENSION = "backfill_fetch_ahead"


@dataclass
class Caller:
    """Who sends a request: the response times of its requests are collected in `times`
    (seconds, reservation to last byte: a page's slowest sizes the next page); `ahead`: a
    page fetched ahead, which never waits for the points budget (it stops instead)."""

    times: list[float] = field(default_factory=list)
    ahead: bool = False


@dataclass(frozen=True)
class _Reply:
    """One POST's result: its status and headers (None/empty when no answer came), its body,
    the failure that ended it (or None), and the token it carried (for a 401)."""

    status: int | None
    headers: httpx.Headers
    body: bytes
    error: Exception | None
    token: SecretStr | None


class GraphQLHttp:
    """Sends one token's GraphQL requests to `url`, at most `max_in_flight` at a time."""

    def __init__(
        self,
        url: str,
        credential: Credential,
        gate: BudgetGate,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 15.0,
        max_in_flight: int = 2,
        request_deadline: float = REQUEST_DEADLINE,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        """`gate`: the token's budget, and its clock, pacer, sleep, jitter and `max_retries`
        (one token's requests share them). `request_deadline`: seconds from sending to the
        last byte; `max_answer_bytes`: the largest answer read."""
        self.url = url
        self.credential = credential
        self.gate = gate
        self.request_deadline = request_deadline
        self.max_answer_bytes = max_answer_bytes
        self.requests_sent = 0
        self._fingerprint = credential.fingerprint
        self._client = httpx.AsyncClient(transport=transport, timeout=timeout)
        self._in_flight = asyncio.Semaphore(max_in_flight)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(
        self, query: str, variables: dict[str, Any] | None, caller: Caller, *, size: int = 0
    ) -> Outcome:
        """POST the query and apply the answer's outcome: return it (ok: its `payload`), wait
        and resend after a secondary limit (GitHub: `retry-after`, else at least a minute;
        at most `max_retries` times, then `SecondaryRateLimitError`), retry a blip in place
        with jittered backoff (at most `max_retries` times, then `TransientError`), renew an
        installation token GitHub rejected once, or raise the error for the outcome:
        `PrimaryLimited`, `AuthenticationError`, `EndpointMissing`, `BackfillRefused`,
        `GraphQLError`, `ResourceLimitsExceeded`. `size`: the query's node count (pacing)."""
        transient = secondary = 0
        renewed = False  # the credential was told of a 401 once for this request
        body = {"query": query, "variables": variables or {}}
        while True:
            reply = await self._post(body, size, caller)
            status, headers = reply.status, reply.headers
            outcome = decide(status, headers, reply.body, reply.error)
            if outcome.timeout:
                self.gate.pacer.count("timeouts")
            if outcome.limit == "secondary":
                self.gate.pacer.count("secondary")
            if outcome.action is Action.OK:
                assert outcome.payload is not None
                return outcome
            if outcome.action is Action.WAIT and outcome.limit == "primary":
                raise PrimaryLimited(self.gate.spent_until(headers), outcome.reason)
            if outcome.action is Action.WAIT:
                secondary += 1
                retry_after = outcome.retry_after
                if retry_after is not None:
                    retry_after = min(max(0.0, retry_after), MAX_RESET_AHEAD.total_seconds())
                if secondary > self.gate.max_retries:
                    raise SecondaryRateLimitError(
                        f"GitHub's secondary rate limit persisted after {secondary} tries",
                        retry_after=retry_after,
                        attempts=secondary,
                    )
                wait = self.gate.secondary_wait(retry_after, secondary)
                await self.gate.wait_until(
                    self.gate.clock.now() + timedelta(seconds=wait),
                    "GitHub secondary rate limit",
                    f"GitHub's secondary rate limit to pass (try {secondary} of "
                    f"{self.gate.max_retries})",
                )
                continue
            if outcome.action is Action.STOP:
                sent = reply.token
                if (
                    status == 401
                    and sent is not None
                    and not renewed
                    and await self.credential.rejected(sent)
                ):
                    renewed = True  # an expired installation token: a new one, same request
                    continue
                if status == 401:
                    reason = outcome.reason
                    if self.credential.installation_id is not None:
                        reason = (
                            "GitHub answered 401 (Bad credentials) even to a newly minted "
                            "installation token: is the installation suspended or removed?"
                        )
                    raise AuthenticationError(f"{self.credential.name}: {reason}")
                raise EndpointMissing(f"{outcome.reason} (url {self.url})")
            if outcome.action is Action.FAIL_BACKFILL:
                refused = BackfillRefused(outcome.reason)
                refused.type = outcome.error_type or refused.type
                raise refused
            if outcome.action is Action.FAIL_CHUNK:
                raise GraphQLError(
                    outcome.reason, type=outcome.error_type, path=outcome.extra.get("path")
                )
            # SHRINK: a blip is retried in place (bounded), GitHub's "too heavy" is not.
            if outcome.error_type in SHRINK_TYPES:
                raise ResourceLimitsExceeded(outcome.reason)
            transient += 1
            if not outcome.in_place or transient > self.gate.max_retries:
                raise TransientError(
                    f"GitHub request failed {transient} times ({outcome.reason}); "
                    "try a smaller page",
                    attempts=transient,
                    status=status,
                    reason=outcome.reason,
                )
            delay = min(TRANSIENT_MAX_WAIT, TRANSIENT_BASE_WAIT * 2 ** (transient - 1))
            delay += self.gate.rng.uniform(0, delay / 2)
            log.warning(
                "github %s: %s; retry %d/%d in %.1fs",
                self._fingerprint,
                outcome.reason,
                transient,
                self.gate.max_retries,
                delay,
            )
            await self.gate.sleep(delay)

    async def _post(self, body: dict[str, Any], size: int, caller: Caller) -> _Reply:
        """One POST within the pacer's server-time budget; its response time (reservation
        to last byte) is settled in the shared ledger and added to `caller.times`."""
        async with self._in_flight:
            ticket = await self.gate.pacer.acquire(size)
            try:
                return await self._post_paced(body, caller)
            finally:
                caller.times.append(await self.gate.pacer.finish(ticket))

    async def _post_paced(self, body: dict[str, Any], caller: Caller) -> _Reply:
        """The POST itself, with an overall deadline and a cap on the answer's size (httpx's
        timeout is per read: an answer trickling a byte every few seconds would never end).
        Never raises for the answer: a failure is returned in the reply."""
        # The token is taken now, after any wait for a slot or the pacer: valid as it is sent.
        token = await self.credential.token()
        headers = {
            "Accept": "application/json",
            "Authorization": f"bearer {token.get_secret_value()}",
        }
        extensions = {AHEAD_EXTENSION: True} if caller.ahead else None
        status: int | None = None
        got = httpx.Headers()
        try:
            async with asyncio.timeout(self.request_deadline):
                self.requests_sent += 1
                async with self._client.stream(
                    "POST", self.url, json=body, headers=headers, extensions=extensions
                ) as response:
                    status, got = response.status_code, response.headers
                    self.gate.clock.observe(got)
                    # A 401's rate headers are the unauthenticated caller's, not this budget's.
                    if status != 401:
                        self.gate.tracker.observe_headers(got)
                    return _Reply(status, got, await self._read(response), None, token)
        except TimeoutError:
            error: Exception = AnswerDeadline(f"over {self.request_deadline:g} s")
        except (httpx.HTTPError, AnswerTooLarge) as exc:
            error = exc
        return _Reply(status, got, b"", error, token)

    async def _read(self, response: httpx.Response) -> bytes:
        """The body, refused (`AnswerTooLarge`) once it is over `max_answer_bytes`."""
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_answer_bytes:
            raise AnswerTooLarge(f"{int(length):,} bytes announced")
        parts: list[bytes] = []
        size = 0
        async for part in response.aiter_bytes():
            size += len(part)
            if size > self.max_answer_bytes:
                raise AnswerTooLarge(f"over {self.max_answer_bytes:,} bytes")
            parts.append(part)
        return b"".join(parts)
