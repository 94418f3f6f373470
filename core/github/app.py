"""Authenticating as a GitHub App: its JWT, its installations and their access tokens.

Built on PyJWT (RS256 signing through `cryptography`) and httpx, not on hand-written crypto
and not on a whole GitHub client library: githubkit's App auth would bring a large generated
REST/GraphQL client this tool does not use, while PyJWT + cryptography are small, standard and
widely audited, and the three REST calls needed here fit in this module.

GitHub's rules followed (https://docs.github.com/en/apps/creating-github-apps/
authenticating-with-a-github-app/):
- "Generating a JSON Web Token (JWT) for a GitHub App": RS256; `iat` 60 s in the past against
  clock drift; `exp` no more than 10 minutes into the future; `iss` the App's id.
- "Generating an installation access token for a GitHub App": POST
  /app/installations/{installation_id}/access_tokens with the JWT answers 201 with `token`
  and `expires_at` (ISO 8601, an hour ahead); GET /app/installations lists installations
  (paginated by `Link`), GET /repos/{owner}/{repo}/installation names the one that can see a
  repository (404 when none can).
- "Authenticating as a GitHub App installation": the installation token is sent as a bearer
  token; it expires after an hour, after which GitHub answers 401 "Bad credentials".

A clock off from GitHub's makes GitHub refuse the JWT ("'exp' is too far in the future" when
ours runs ahead, "must be ... the future time" when behind): the refusal's `Date` gives
GitHub's clock and the request is signed again on it, once (octokit/auth-app.js does the same).

Nothing here puts the key, a JWT or a token into a message, a repr or a log line: errors carry
GitHub's own message (which never echoes credentials) and the HTTP status.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from pydantic import SecretStr

from core.github.errors import AuthenticationError, TransientError

JWT_BACKDATE = 60  # seconds: GitHub's advice against clock drift
# GitHub refuses an `exp` more than 10 minutes ahead of *its* clock; 9 minutes leaves a minute
# for our clock running ahead of GitHub's (octokit and others found 10 exactly fails).
JWT_LIFETIME = 9 * 60
REST_TIMEOUT = 30.0
PER_PAGE = 100  # GitHub's maximum for GET /app/installations
MAX_PAGES = 1000
REST_ACCEPT = "application/vnd.github+json"
REST_API_VERSION = "2022-11-28"
# GitHub's messages worth a hint of ours (a wrong key or app id reads the same to GitHub).
_HINTS = {
    "A JSON web token could not be decoded": (
        "check that GITHUB_APP_ID is the App's id and the private key is one of that App's"
    ),
    "Integration not found": "check GITHUB_APP_ID",
    "'Expiration time' claim ('exp') is too far in the future": (
        "this machine's clock is ahead of GitHub's, or the JWT lives too long: synchronise the "
        "clock (NTP)"
    ),
    "'Expiration time' claim ('exp') must be a numeric value representing the future time "
    "at which the assertion expires": "this machine's clock is behind GitHub's: synchronise it",
    "'Issued at' claim ('iat') must be an Integer representing the time that the assertion "
    "was issued": "this machine's clock is ahead of GitHub's: synchronise it (NTP)",
}


_CLOCK_MESSAGES = frozenset(m for m, hint in _HINTS.items() if "clock" in hint)
CLOCK_SKEW_NOISE = 2.0  # seconds: `Date` has whole seconds; less than this is no skew


class AppAuthError(AuthenticationError):
    """GitHub refused the App's JWT or an installation request (401/403/404 from /app/...).
    The message is GitHub's plus a hint; it never carries a credential."""


def load_private_key(pem: SecretStr) -> RSAPrivateKey:
    """Parse the App's private key (PEM, PKCS#1 or PKCS#8). Raises ValueError with a
    one-line message that never quotes the key."""
    try:
        key = load_pem_private_key(pem.get_secret_value().encode("ascii"), password=None)
    except TypeError:
        raise ValueError(
            "the GitHub App private key is encrypted: use the unencrypted .pem GitHub generated"
        ) from None
    except (ValueError, UnicodeError):
        raise ValueError(
            "the GitHub App private key is not a valid PEM private key: use the .pem file "
            "GitHub generated for the App"
        ) from None
    except Exception:  # cryptography's own UnsupportedAlgorithm and the like
        raise ValueError("the GitHub App private key cannot be loaded") from None
    if not isinstance(key, RSAPrivateKey):
        raise ValueError("the GitHub App private key is not an RSA key (GitHub signs RS256)")
    return key


@dataclass(frozen=True)
class Installation:
    """One installation of the App, as GET /app/installations describes it."""

    id: int
    account: str  # account.login
    # repository_selection "all": it sees every repository of its account, present and
    # future (GitHub's "Installation" object); "selected": only those chosen.
    all_repositories: bool = False


@dataclass(frozen=True)
class InstallationAccess:
    """An installation access token and when it stops working, on *our* clock (GitHub's
    `expires_at` less the answer's `Date`, added to our time of the answer: immune to skew)."""

    token: SecretStr
    expires_at: float  # our epoch seconds
    lifetime: float  # seconds it was valid for when issued

    def __repr__(self) -> str:
        return f"InstallationAccess(expires_at={self.expires_at:.0f})"


class GitHubApp:
    """The App: signs JWTs and calls GitHub's three App endpoints over REST.

    `api_url`: GitHub's REST root (https://api.github.com, https://HOST/api/v3, the
    simulator's root). `clock`: our epoch seconds (tests move it)."""

    def __init__(
        self,
        app_id: int,
        private_key: RSAPrivateKey,
        api_url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        timeout: float = REST_TIMEOUT,
    ) -> None:
        self.app_id = app_id
        self._key = private_key
        self.api_url = api_url.rstrip("/")
        self._clock = clock
        self._http = httpx.AsyncClient(transport=transport, timeout=timeout)
        self._offset = 0.0  # GitHub's clock minus ours, learnt from a refusal's `Date`
        self.requests_sent = 0

    def __repr__(self) -> str:
        return f"GitHubApp(id={self.app_id}, api_url={self.api_url!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    def jwt(self) -> SecretStr:
        """A JWT for the App: RS256, iat 60 s ago, exp 9 minutes ahead, iss the App id; times
        on GitHub's clock as far as its answers' `Date` told (see `_request`)."""
        now = int(self._clock() + self._offset)
        claims = {"iat": now - JWT_BACKDATE, "exp": now + JWT_LIFETIME, "iss": str(self.app_id)}
        return SecretStr(jwt.encode(claims, self._key, algorithm="RS256"))

    async def installations(self) -> list[Installation]:
        """Every installation of the App (GET /app/installations, following `Link: next`)."""
        found: list[Installation] = []
        url: str | None = f"{self.api_url}/app/installations?per_page={PER_PAGE}"
        for _ in range(MAX_PAGES):
            if url is None:
                return found
            response = await self._request("GET", url)
            body = _json(response)
            if not isinstance(body, list):
                raise TransientError(
                    "GitHub answered GET /app/installations with no list", attempts=1
                )
            for item in body:
                try:
                    found.append(Installation(int(item["id"]), str(item["account"]["login"])))
                except (KeyError, TypeError, ValueError):
                    raise TransientError(
                        "GitHub answered GET /app/installations with an installation of "
                        "an unexpected shape",
                        attempts=1,
                    ) from None
            url = response.links.get("next", {}).get("url")
        return found

    async def access_token(self, installation_id: int) -> InstallationAccess:
        """A new installation access token (POST /app/installations/{id}/access_tokens)."""
        response = await self._request(
            "POST", f"{self.api_url}/app/installations/{installation_id}/access_tokens"
        )
        answered_at = self._clock()
        body = _json(response)
        try:
            token = body["token"]
            expires = datetime.fromisoformat(str(body["expires_at"]).replace("Z", "+00:00"))
            if not isinstance(token, str) or not token:
                raise ValueError
        except (KeyError, TypeError, ValueError):
            raise TransientError(
                f"GitHub answered the access token request of installation {installation_id} "
                "with an unexpected shape",
                attempts=1,
            ) from None
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        github_now = _answer_time(response) or answered_at
        lifetime = max(0.0, expires.timestamp() - github_now)
        return InstallationAccess(SecretStr(token), answered_at + lifetime, lifetime)

    async def repository_installation(self, owner: str, name: str) -> Installation | None:
        """The installation that can see owner/name (GET /repos/{owner}/{repo}/installation),
        None if GitHub answers 404 (no installation of this App can see it)."""
        path = f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}/installation"
        response = await self._request("GET", self.api_url + path, missing_ok=True)
        if response.status_code == 404:
            return None
        body = _json(response)
        try:
            return Installation(
                int(body["id"]),
                str(body["account"]["login"]),
                body.get("repository_selection") == "all",
            )
        except (KeyError, TypeError, ValueError):
            raise TransientError(
                f"GitHub answered GET {path} with an installation of an unexpected shape",
                attempts=1,
            ) from None

    async def _request(self, method: str, url: str, *, missing_ok: bool = False) -> httpx.Response:
        """One REST call with a fresh JWT. 5xx and network errors are retried a few times;
        a refusal raises AppAuthError with GitHub's message."""
        attempts = 3
        skew_retried = False
        for attempt in range(1, attempts + 1):
            headers = {
                "Authorization": f"Bearer {self.jwt().get_secret_value()}",
                "Accept": REST_ACCEPT,
                "X-GitHub-Api-Version": REST_API_VERSION,
            }
            try:
                self.requests_sent += 1
                response = await self._http.request(method, url, headers=headers)
            except httpx.HTTPError as exc:
                if attempt == attempts:
                    raise TransientError(
                        f"GitHub's REST API could not be reached ({type(exc).__name__})",
                        attempts=attempt,
                    ) from None
                await asyncio.sleep(attempt)
                continue
            if response.status_code >= 500 and attempt < attempts:
                await asyncio.sleep(attempt)
                continue
            if response.is_success or (missing_ok and response.status_code == 404):
                return response
            if response.status_code >= 500:
                raise TransientError(
                    f"GitHub's REST API answered {response.status_code}",
                    attempts=attempt,
                    status=response.status_code,
                )
            if not skew_retried and self._learn_skew(response):
                skew_retried = True  # once: sign again on GitHub's clock (as octokit does)
                continue
            raise AppAuthError(_refusal(method, url, self.api_url, response))
        raise AssertionError("unreachable")

    def _learn_skew(self, response: httpx.Response) -> bool:
        """A 401 saying the JWT's times are off: take GitHub's clock from the answer's `Date`
        (whole seconds) and say whether that changes anything worth a second try."""
        if response.status_code != 401 or _message(response) not in _CLOCK_MESSAGES:
            return False
        github_now = _answer_time(response)
        if github_now is None:
            return False
        offset = github_now - self._clock()
        if abs(offset - self._offset) < CLOCK_SKEW_NOISE:
            return False
        self._offset = offset
        return True


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message") or "").strip()
    except (ValueError, AttributeError):
        return ""


def _refusal(method: str, url: str, api_url: str, response: httpx.Response) -> str:
    """`GitHub refused the App (401 on POST /app/...): <GitHub's message> (<hint>)`."""
    message = _message(response)
    path = url.removeprefix(api_url).split("?", 1)[0]
    text = f"GitHub refused the GitHub App ({response.status_code} on {method} {path})"
    if message:
        text += f": {message[:200]}"
    hint = _HINTS.get(message)
    return f"{text} ({hint})" if hint else text


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise TransientError(
            f"GitHub's REST API answered {response.status_code} with a body that is not JSON",
            attempts=1,
        ) from None


def _answer_time(response: httpx.Response) -> float | None:
    """GitHub's clock at the answer (its `Date` header), epoch seconds."""
    date = response.headers.get("date")
    if not date:
        return None
    try:
        return parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError, OverflowError):
        return None
