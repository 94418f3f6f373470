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

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from pydantic import SecretStr

from core.errors import ConfigError
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
    """One installation of a GitHub App: its token is minted with the App's JWT and refreshed
    a few minutes before `expires_at` (and once on a 401). Filled in by core.github.app."""

    def __init__(self, installation_id: int, account: str) -> None:
        self._installation_id = installation_id
        self.account = account

    @property
    def name(self) -> str:
        return f"installation {self._installation_id} ({self.account})"

    @property
    def fingerprint(self) -> str:
        return f"installation:{self._installation_id}"

    @property
    def installation_id(self) -> int | None:
        return self._installation_id

    async def token(self) -> SecretStr:
        raise NotImplementedError

    async def rejected(self, token: SecretStr) -> bool:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"InstallationToken({self.name})"


class Credentials:
    """The set of credentials a process works with (at least one)."""

    def __init__(self, credentials: list[Credential]) -> None:
        if not credentials:
            raise ConfigError("no GitHub credential is configured")
        self.all: list[Credential] = list(credentials)

    @property
    def is_app(self) -> bool:
        """True when these are App installations (repositories must be routed)."""
        return any(c.installation_id is not None for c in self.all)

    async def installation_for(self, owner: str, name: str) -> int | None:
        """The installation that can see owner/name (GET /repos/{owner}/{repo}/installation with
        the App's JWT). For personal tokens: None, meaning any credential will do.

        Raises NotVisible when this is an App and none of its (configured) installations can see
        the repository."""
        if not self.is_app:
            return None
        raise NotImplementedError

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

    async def __aenter__(self) -> Credentials:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return "Credentials(" + ", ".join(c.name for c in self.all) + ")"


async def load_credentials(settings: Settings) -> Credentials:
    """GITHUB_APP_ID (+ key) -> one InstallationToken per installation (discovered with
    GET /app/installations, restricted by GITHUB_APP_INSTALLATION_IDS); else GITHUB_TOKENS
    (several accounts) -> StaticTokens; else GITHUB_TOKEN -> one StaticToken.

    Raises ConfigError (one line, no secret) when nothing usable is configured."""
    if getattr(settings, "github_app_id", None) is not None:
        raise NotImplementedError("GitHub App credentials are not wired yet")
    tokens: list[SecretStr] = list(getattr(settings, "github_tokens", None) or [])
    if not tokens and settings.github_token is not None:
        tokens = [settings.github_token]
    if not tokens:
        raise ConfigError(
            "GITHUB_TOKEN is not set: create a token that can read the repositories "
            "(classic: repo or public_repo scope; fine-grained: Pull requests read) and export "
            "it, or configure a GitHub App (GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY)"
        )
    return Credentials([StaticToken(t) for t in tokens])
