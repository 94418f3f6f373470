"""GitHub's App side, simulated: the App's JWT checked, its installations listed, installation
access tokens minted with a time to live, and the repository → installation lookup.

Answers follow GitHub's REST API (https://docs.github.com/en/rest/apps/apps):
- GET /app/installations (JWT): a JSON list of installation objects, `per_page` (≤ 100,
  default 30) and `page`, with a `Link` header (`rel="next"`, `rel="last"`) when there are more.
- POST /app/installations/{id}/access_tokens (JWT): 201 {"token", "expires_at" (ISO 8601 Z),
  "permissions", "repository_selection"}; 404 for an installation the App does not have.
- GET /repos/{owner}/{repo}/installation (JWT): the installation object, or 404.
Enterprise Server serves the same under /api/v3, so that prefix is accepted too.

The JWT is verified as GitHub does ("Generating a JSON Web Token (JWT) for a GitHub App"):
RS256 signature by the App's key, `iss` the App id, `exp` in the future but no more than 10
minutes ahead, `iat` not in the future. Refusals are 401 with GitHub's own messages, as
clients report them (octokit/auth-app.js#375 and #698, probot/probot#942,
github3.py#1050): "A JSON web token could not be decoded" (bad signature, a key or `iss` of
another App), "'Expiration time' claim ('exp') is too far in the future", "'Expiration time'
claim ('exp') must be a numeric value representing the future time at which the assertion
expires", "'Issued at' claim ('iat') must be an Integer representing the time that the
assertion was issued".

An installation token expires after `token_ttl` (GitHub's seconds; divided by the time scale),
after which GraphQL answers 401 "Bad credentials". All tokens of one installation share its
budget; a token sees only the repositories of its installation's owners (others are answered
as GitHub answers a repository the token cannot see: NOT_FOUND).

Deliberate simplification: one installation may list several owners (`ID:OWNER[,OWNER...]`);
on GitHub an installation belongs to one account, so `account.login` is the first owner.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from . import responses as R

REST_DOCS = "https://docs.github.com/rest"
TOKEN_PREFIX = "ghs_"  # GitHub's prefix for installation (server-to-server) tokens
JWT_MAX_AHEAD = 600  # seconds: GitHub's "no more than 10 minutes into the future"
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100

NOT_DECODED = "A JSON web token could not be decoded"
EXP_TOO_FAR = "'Expiration time' claim ('exp') is too far in the future"
EXP_PAST = (
    "'Expiration time' claim ('exp') must be a numeric value representing the future time at "
    "which the assertion expires"
)
IAT_BAD = (
    "'Issued at' claim ('iat') must be an Integer representing the time that the assertion "
    "was issued"
)
_INSTALLATION_RE = re.compile(
    r"^(\d+):([A-Za-z0-9][A-Za-z0-9-]{0,38}(?:,[A-Za-z0-9][A-Za-z0-9-]{0,38})*)$"
)
_ACCESS_TOKENS_RE = re.compile(r"^/app/installations/(\d+)/access_tokens$")
_REPO_INSTALLATION_RE = re.compile(r"^/repos/([^/]+)/([^/]+)/installation$")


@dataclass(frozen=True)
class InstallationSpec:
    """One installation: its id and the owners (accounts) whose repositories it sees."""

    id: int
    owners: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> InstallationSpec:
        """`42:acme` or `42:acme,octo` → InstallationSpec; ValueError with a message for users."""
        match = _INSTALLATION_RE.match(text.strip())
        if match is None or int(match.group(1)) <= 0:
            raise ValueError(
                f"invalid installation {text!r}: expected ID:OWNER[,OWNER...], e.g. 42:acme"
            )
        return cls(int(match.group(1)), tuple(match.group(2).split(",")))

    @property
    def account(self) -> str:
        return self.owners[0]

    def sees(self, owner: str) -> bool:
        return owner.lower() in {o.lower() for o in self.owners}


@dataclass
class AppSpec:
    """The simulated App: its id, public key (PEM) and installations."""

    app_id: int
    public_key_pem: bytes
    installations: tuple[InstallationSpec, ...]
    installation_limit: int = 5000  # points per window, each installation
    token_ttl: float = 3600.0  # GitHub's seconds an installation token lives
    slug: str = "backfill-sim"

    def __post_init__(self) -> None:
        ids = [i.id for i in self.installations]
        if len(set(ids)) != len(ids):
            raise ValueError("two installations have the same id")
        if not self.token_ttl > 0:
            raise ValueError("the token TTL must be greater than 0")
        if self.installation_limit <= 0:
            raise ValueError("the installation limit must be greater than 0")
        key = load_pem_public_key(self.public_key_pem)
        if not isinstance(key, RSAPublicKey):
            raise ValueError("the App's public key is not an RSA key (GitHub signs RS256)")

    @property
    def public_key(self) -> RSAPublicKey:
        key = load_pem_public_key(self.public_key_pem)
        assert isinstance(key, RSAPublicKey)
        return key


@dataclass
class IssuedToken:
    installation: InstallationSpec
    expires_at: float  # simulator clock


@dataclass
class SimApp:
    """The App's state in one simulator: tokens issued so far. Called under the simulator's
    lock, so it needs none of its own."""

    spec: AppSpec
    clock: Callable[[], float]
    time_scale: float = 1.0
    seed: int = 0
    issued: dict[str, IssuedToken] = field(default_factory=dict)
    tokens_issued: dict[int, int] = field(default_factory=dict)  # per installation
    refused: dict[str, int] = field(default_factory=dict)  # JWT refusals by message

    def __post_init__(self) -> None:
        self._key = self.spec.public_key
        self._by_id = {i.id: i for i in self.spec.installations}

    # --- installation tokens used on GraphQL ---------------------------------------------

    def installation_of(self, token: str) -> InstallationSpec | bool | None:
        """The installation of a live token; False if it was issued and has expired (or is
        not an installation token the simulator issued but looks like one); None if it is not
        an installation token at all (a personal token)."""
        issued = self.issued.get(token)
        if issued is None:
            return False if token.startswith(TOKEN_PREFIX) else None
        if self.clock() >= issued.expires_at:
            return False
        return issued.installation

    def expire_all(self) -> None:
        """Every issued token stops working now (GitHub may revoke tokens at any time)."""
        now = self.clock()
        for issued in self.issued.values():
            issued.expires_at = min(issued.expires_at, now)

    # --- REST ------------------------------------------------------------------------------

    def handles(self, path: str) -> bool:
        path = _rest_path(path)
        return (
            path == "/app/installations"
            or _ACCESS_TOKENS_RE.match(path) is not None
            or _REPO_INSTALLATION_RE.match(path) is not None
        )

    def handle(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        request_id: str,
        repo_exists: Callable[[str, str], bool],
    ) -> R.SimResponse:
        prefix = "/api/v3" if path.startswith("/api/v3/") else ""
        path = _rest_path(path)
        refusal = self._refusal(headers)
        if refusal is not None:
            self.refused[refusal] = self.refused.get(refusal, 0) + 1
            return self._reply(
                request_id,
                401,
                {"message": refusal, "documentation_url": REST_DOCS, "status": "401"},
            )
        if path == "/app/installations" and method == "GET":
            return self._list(query, headers, prefix, request_id)
        match = _ACCESS_TOKENS_RE.match(path)
        if match is not None and method == "POST":
            return self._mint(int(match.group(1)), request_id)
        match = _REPO_INSTALLATION_RE.match(path)
        if match is not None and method == "GET":
            owner, name = unquote(match.group(1)), unquote(match.group(2))
            for installation in self.spec.installations:
                if installation.sees(owner) and repo_exists(owner, name):
                    return self._reply(request_id, 200, self._object(installation, headers, prefix))
            return self._not_found(
                request_id,
                "https://docs.github.com/rest/apps/apps"
                "#get-a-repository-installation-for-the-authenticated-app",
            )
        return self._reply(request_id, 404, R.not_found())

    def _refusal(self, headers: Mapping[str, str]) -> str | None:
        """GitHub's message refusing this request's JWT, or None if it is good."""
        value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return NOT_DECODED
        try:
            claims = jwt.decode(
                token.strip(),
                self._key,
                algorithms=["RS256"],
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_iss": False,
                    "verify_aud": False,
                },
            )
        except jwt.InvalidTokenError:
            return NOT_DECODED  # not a JWT, not RS256, or signed by another key
        if str(claims.get("iss")) != str(self.spec.app_id):
            return NOT_DECODED  # GitHub verifies with the key of the App `iss` names
        now = self.clock()
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool) or exp <= now:
            return EXP_PAST
        if exp > now + JWT_MAX_AHEAD:
            return EXP_TOO_FAR
        iat = claims.get("iat")
        if not isinstance(iat, int) or isinstance(iat, bool) or iat > now:
            return IAT_BAD
        return None

    def _list(
        self, query: str, headers: Mapping[str, str], prefix: str, request_id: str
    ) -> R.SimResponse:
        asked = parse_qs(query)
        try:
            per_page = int(asked.get("per_page", [DEFAULT_PER_PAGE])[0])
            page = int(asked.get("page", ["1"])[0])
        except ValueError:
            per_page, page = DEFAULT_PER_PAGE, 1
        per_page = min(max(per_page, 1), MAX_PER_PAGE)
        page = max(page, 1)
        everything = self.spec.installations
        chunk = everything[(page - 1) * per_page : page * per_page]
        body = [self._object(i, headers, prefix) for i in chunk]
        response = self._reply(request_id, 200, body)
        last = max(1, math.ceil(len(everything) / per_page))
        if page < last:
            base = f"{_origin(headers)}{prefix}/app/installations"
            response.headers["link"] = (
                f'<{base}?per_page={per_page}&page={page + 1}>; rel="next", '
                f'<{base}?per_page={per_page}&page={last}>; rel="last"'
            )
        return response

    def _mint(self, installation_id: int, request_id: str) -> R.SimResponse:
        installation = self._by_id.get(installation_id)
        if installation is None:
            return self._not_found(
                request_id,
                "https://docs.github.com/rest/apps/apps"
                "#create-an-installation-access-token-for-an-app",
            )
        now = self.clock()
        count = self.tokens_issued.get(installation_id, 0) + 1
        self.tokens_issued[installation_id] = count
        digest = hashlib.sha256(f"{self.seed}:{installation_id}:{count}:{now}".encode()).hexdigest()
        token = TOKEN_PREFIX + digest[:36]
        expires_at = now + self.spec.token_ttl / self.time_scale
        self.issued[token] = IssuedToken(installation, expires_at)
        body = {
            "token": token,
            # whole seconds, rounded down: the token never outlives what GitHub announced
            "expires_at": datetime.fromtimestamp(math.floor(expires_at), UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "permissions": {"metadata": "read", "pull_requests": "read"},
            "repository_selection": "all",
        }
        return self._reply(request_id, 201, body)

    def _object(
        self, installation: InstallationSpec, headers: Mapping[str, str], prefix: str
    ) -> dict[str, Any]:
        """An installation object with the fields GitHub's docs show."""
        api = f"{_origin(headers)}{prefix}"
        account = installation.account
        return {
            "id": installation.id,
            "account": {
                "login": account,
                "id": 1_000 + installation.id,
                "type": "Organization",
                "url": f"{api}/users/{account}",
                "html_url": f"https://github.com/{account}",
            },
            "access_tokens_url": f"{api}/app/installations/{installation.id}/access_tokens",
            "repositories_url": f"{api}/installation/repositories",
            "html_url": f"https://github.com/organizations/{account}/settings/installations/"
            f"{installation.id}",
            "app_id": self.spec.app_id,
            "app_slug": self.spec.slug,
            "target_id": 1_000 + installation.id,
            "target_type": "Organization",
            "permissions": {"metadata": "read", "pull_requests": "read"},
            "events": [],
            "repository_selection": "all",
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "single_file_name": None,
            "suspended_at": None,
            "suspended_by": None,
        }

    def _not_found(self, request_id: str, docs: str) -> R.SimResponse:
        return self._reply(
            request_id, 404, {"message": "Not Found", "documentation_url": docs, "status": "404"}
        )

    @staticmethod
    def _reply(request_id: str, status: int, body: Any) -> R.SimResponse:
        headers = {
            "content-type": "application/json; charset=utf-8",
            "server": "github.com",
            "x-github-media-type": "github.v3; format=json",
            "x-github-api-version-selected": "2022-11-28",
            "x-github-request-id": request_id,
        }
        return R.SimResponse(status, headers, R.dump(body))


def _rest_path(path: str) -> str:
    return path.removeprefix("/api/v3").rstrip("/") or "/"


def _origin(headers: Mapping[str, str]) -> str:
    host = next((v for k, v in headers.items() if k.lower() == "host"), "api.github.com")
    scheme = "https" if host.split(":")[0] == "api.github.com" else "http"
    return f"{scheme}://{host}"
