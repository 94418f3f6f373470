"""Who a process talks to GitHub as: one personal token, several accounts' tokens, or the
installations of a GitHub App, each with a budget of its own.

A `Credential` hands out a token valid now (`token()`), and is told when GitHub answered 401
to one (`rejected()`), so a client can refresh once and retry instead of failing a chunk. Its
`fingerprint` keys its budget in the database (`github_rate_limits.token_fingerprint`): for a
personal token the token's one-way fingerprint (as before), for an installation a name that
stays the same across its hourly token refreshes, since all tokens of one installation share
one budget (GitHub: "Rate limits for GitHub Apps",
https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api).

No token or key is ever part of a `name`, `fingerprint`, repr or exception message.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import httpx
from pydantic import SecretStr

from core.errors import ConfigError
from core.github.app import GitHubApp, InstallationAccess, load_private_key
from core.secrets import fingerprint as secret_fingerprint

if TYPE_CHECKING:
    from core.config import Settings


@runtime_checkable
class Credential(Protocol):
    """One budget's worth of access to GitHub."""

    @property
    def name(self) -> str:
        """Safe to print: "token 1a2b3c4d" or "installation 42 (octo-org)"."""
        ...

    @property
    def fingerprint(self) -> str:
        """The budget key in github_rate_limits; stable across an installation's refreshes."""
        ...

    @property
    def installation_id(self) -> int | None:
        """The App installation this credential is, None for a personal token."""
        ...

    async def token(self) -> SecretStr:
        """A token valid now (an installation's is refreshed a few minutes before expiry)."""
        ...

    async def rejected(self, token: SecretStr) -> bool:
        """GitHub answered 401 to `token`: refresh once if possible. True = retry with
        `await token()`; False = the credential itself is bad (an AuthenticationError)."""
        ...


# Refresh an installation token this long before GitHub's `expires_at` (a few minutes, so a
# request started near the end never carries a token that expires on the way).
REFRESH_BEFORE = 300.0


class NotVisible(Exception):
    """No installation of the App can see a repository (GET /repos/{owner}/{repo}/installation
    answered 404, or the installation that sees it is not among GITHUB_APP_INSTALLATION_IDS).
    The message names the repository only; safe to store as a backfill's reason."""

    def __init__(self, owner: str, name: str, detail: str = "") -> None:
        self.owner = owner
        self.repo = name
        message = f"no installation of the GitHub App can see {owner}/{name}"
        super().__init__(f"{message}: {detail}" if detail else message)


class StaticToken:
    """A personal token (GITHUB_TOKEN, or one of GITHUB_TOKENS): never refreshed, so a 401 is
    final. Its fingerprint is the token's, so existing budget rows keep their key."""

    def __init__(self, token: SecretStr | str) -> None:
        self._token = token if isinstance(token, SecretStr) else SecretStr(token)
        self._fingerprint = secret_fingerprint(self._token)

    @property
    def name(self) -> str:
        return "token " + self._fingerprint.removeprefix("sha256:")[:8]

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    @property
    def installation_id(self) -> int | None:
        return None

    async def token(self) -> SecretStr:
        return self._token

    async def rejected(self, token: SecretStr) -> bool:
        return False

    def __repr__(self) -> str:
        return f"StaticToken({self._fingerprint})"


class InstallationToken:
    """One installation of a GitHub App. Its token is minted with the App's JWT (POST
    /app/installations/{id}/access_tokens) and refreshed `REFRESH_BEFORE` seconds before it
    expires (a quarter of its life when that is shorter, for short-lived tokens), and once more
    when GitHub answers 401 to it: GitHub's tokens last an hour and are then answered 401
    "Bad credentials" ("Authenticating as a GitHub App installation", docs.github.com).

    Every task of a process shares one instance: a lock makes one refresh serve them all."""

    def __init__(
        self,
        app: GitHubApp,
        installation_id: int,
        account: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._app = app
        self._installation_id = installation_id
        self.account = account
        self._clock = clock
        self._access: InstallationAccess | None = None
        self._lock = asyncio.Lock()
        self.refreshes = 0  # tokens minted (for tests and stats)

    @property
    def name(self) -> str:
        return f"installation {self._installation_id} ({self.account})"

    @property
    def fingerprint(self) -> str:
        return f"installation:{self._installation_id}"

    @property
    def installation_id(self) -> int | None:
        return self._installation_id

    def _fresh(self, access: InstallationAccess | None) -> bool:
        if access is None:
            return False
        margin = min(REFRESH_BEFORE, access.lifetime / 4)
        return self._clock() < access.expires_at - margin

    async def token(self) -> SecretStr:
        async with self._lock:
            if not self._fresh(self._access):
                await self._refresh()
            assert self._access is not None
            return self._access.token

    async def rejected(self, token: SecretStr) -> bool:
        """A 401 to `token`: mint a new one unless another task already has (then just
        retry with it). Raises AppAuthError if GitHub refuses the App itself."""
        async with self._lock:
            current = self._access
            if current is None or current.token.get_secret_value() == token.get_secret_value():
                await self._refresh()
            return True

    async def _refresh(self) -> None:
        self._access = await self._app.access_token(self._installation_id)
        self.refreshes += 1

    def __repr__(self) -> str:
        return f"InstallationToken({self.name})"


class Credentials:
    """The set of credentials a process works with (at least one), and the App when they are
    its installations (to route repositories and close its connections)."""

    def __init__(self, credentials: list[Credential], app: GitHubApp | None = None) -> None:
        if not credentials:
            raise ConfigError("no GitHub credential is configured")
        self.all: list[Credential] = list(credentials)
        self.app = app

    @property
    def is_app(self) -> bool:
        """True when these are App installations (repositories must be routed)."""
        return any(c.installation_id is not None for c in self.all)

    async def installation_for(self, owner: str, name: str) -> int | None:
        """The installation that can see owner/name (GET /repos/{owner}/{repo}/installation with
        the App's JWT). For personal tokens: None, meaning any credential will do.

        Raises NotVisible when this is an App and none of its (configured) installations can see
        the repository."""
        return (await self.route(owner, name))[0]

    async def route(self, owner: str, name: str) -> tuple[int | None, bool]:
        """`installation_for`, and whether that installation sees every repository of `owner`
        (its repository_selection is "all"), so the owner's other repositories need not be
        asked for. Personal tokens: (None, True)."""
        if self.app is None:
            return None, True
        found = await self.app.repository_installation(owner, name)
        if found is None:
            raise NotVisible(owner, name)
        if all(c.installation_id != found.id for c in self.all):
            raise NotVisible(
                owner,
                name,
                f"installation {found.id} ({found.account}) can, but GITHUB_APP_INSTALLATION_IDS "
                "leaves it out",
            )
        return found.id, found.all_repositories

    def by_installation(self, installation_id: int | None) -> Credential:
        """The credential of `installation_id`; None (any) gives the first. KeyError if this
        process has no credential for that installation."""
        if installation_id is None:
            return self.all[0]
        for credential in self.all:
            if credential.installation_id == installation_id:
                return credential
        raise KeyError(f"no credential for installation {installation_id}")

    async def aclose(self) -> None:
        """Release the App's HTTP connections (nothing for personal tokens)."""
        if self.app is not None:
            await self.app.aclose()

    async def __aenter__(self) -> Credentials:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return "Credentials(" + ", ".join(c.name for c in self.all) + ")"


async def load_credentials(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], float] = time.time,
) -> Credentials:
    """GITHUB_APP_ID (+ key) -> one InstallationToken per installation (discovered with
    GET /app/installations, restricted by GITHUB_APP_INSTALLATION_IDS); else GITHUB_TOKENS
    (several accounts) -> StaticTokens; else GITHUB_TOKEN -> one StaticToken.

    The App's first token of each installation is minted here, so a wrong key or id fails now,
    not in the first chunk. `transport`: for tests (the simulator in process).

    Raises ConfigError (one line, no secret) when nothing usable is configured or an
    installation asked for does not exist; AppAuthError when GitHub refuses the App."""
    if settings.github_app_id is not None:
        return await _load_app(settings, transport=transport, clock=clock)
    tokens = settings.github_token_list
    if not tokens and settings.github_token is not None:
        tokens = [settings.github_token]
    if not tokens:
        raise ConfigError(
            "GITHUB_TOKEN is not set: create a token that can read the repositories "
            "(classic: repo or public_repo scope; fine-grained: Pull requests read) and export "
            "it, or configure a GitHub App (GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY)"
        )
    return Credentials([StaticToken(t) for t in tokens])


async def _load_app(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None,
    clock: Callable[[], float],
) -> Credentials:
    assert settings.github_app_id is not None
    api_url = settings.rest_api_url
    if api_url is None:
        raise ConfigError("cannot tell GitHub's REST API URL: set GITHUB_API_URL")
    try:
        key = load_private_key(settings.github_app_private_key_pem())
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    app = GitHubApp(settings.github_app_id, key, api_url, transport=transport, clock=clock)
    try:
        installations = await app.installations()
        wanted = settings.installation_ids
        if wanted is not None:
            missing = sorted(wanted - {i.id for i in installations})
            if missing:
                raise ConfigError(
                    "GITHUB_APP_INSTALLATION_IDS names installations the App does not have: "
                    + ", ".join(str(m) for m in missing)
                )
            installations = [i for i in installations if i.id in wanted]
        if not installations:
            raise ConfigError(
                f"the GitHub App {settings.github_app_id} has no installations: install it on "
                "the accounts whose repositories you backfill"
            )
        credentials = [InstallationToken(app, i.id, i.account, clock=clock) for i in installations]
        for credential in credentials:
            await credential.token()  # a refused App fails here, once, clearly
    except BaseException:
        await app.aclose()
        raise
    return Credentials(list(credentials), app)
