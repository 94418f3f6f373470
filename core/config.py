"""Settings from the environment and a `.env` file.

Secrets are `SecretStr`: their repr is masked, so they cannot leak through logs or errors.
`DATABASE_URL` counts as a secret because it usually embeds a password.
"""

from __future__ import annotations

import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs
from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticUseDefault
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigError
from core.secrets import token_url_problem

GITHUB_GRAPHQL_URL = "https://api.github.com/graphql"
GITHUB_API_HOST = "api.github.com"
# The largest GraphQL budget GitHub.com gives any token, points per hour: GITHUB_TOKEN in
# Actions on Enterprise Cloud (users 5,000; Enterprise Cloud users and Apps 10,000; App
# installations at most 12,500). Source: docs.github.com, "Rate limits and query limits for
# the GraphQL API". A reserve this large could never be kept.
GITHUB_LARGEST_GRAPHQL_BUDGET = 15_000


class Backend(StrEnum):
    EMBEDDED = "embedded"
    POSTGRES = "postgres"
    SUPABASE = "supabase"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    database_url: SecretStr | None = Field(default=None, validation_alias="DATABASE_URL")
    supabase_url: str | None = Field(
        default=None, validation_alias=AliasChoices("SUPABASE_URL", "VITE_SUPABASE_URL")
    )
    supabase_service_key: SecretStr | None = Field(
        default=None, validation_alias="SUPABASE_SERVICE_KEY"
    )
    github_token: SecretStr | None = Field(default=None, validation_alias="GITHUB_TOKEN")
    github_graphql_url: str = Field(
        default=GITHUB_GRAPHQL_URL, validation_alias="GITHUB_GRAPHQL_URL"
    )
    # Several accounts' personal tokens, separated by commas or whitespace: one budget each.
    # Tokens of one user share that user's budget (GitHub counts per user, not per token), so
    # list one token per account.
    github_tokens: SecretStr | None = Field(default=None, validation_alias="GITHUB_TOKENS")
    # A GitHub App: its id and private key (PEM text, or a file holding it); optionally only
    # some of its installations. Each installation has a budget of its own.
    github_app_id: int | None = Field(default=None, gt=0, validation_alias="GITHUB_APP_ID")
    github_app_private_key: SecretStr | None = Field(
        default=None, validation_alias="GITHUB_APP_PRIVATE_KEY"
    )
    github_app_private_key_path: Path | None = Field(
        default=None, validation_alias="GITHUB_APP_PRIVATE_KEY_PATH"
    )
    github_app_installation_ids: str | None = Field(
        default=None, validation_alias="GITHUB_APP_INSTALLATION_IDS"
    )
    # GitHub's REST API (App authentication); derived from GITHUB_GRAPHQL_URL when unset.
    github_api_url: str | None = Field(default=None, validation_alias="GITHUB_API_URL")
    min_graphql_points: int = Field(default=500, ge=0, validation_alias="MIN_GRAPHQL_POINTS")
    chunk_recovery_minutes: int = Field(
        default=30, ge=1, le=525_600, validation_alias="CHUNK_RECOVERY_MINUTES"
    )
    # Pacing by server time (core.github.pacing): GitHub allows ~60 s of server time per 60 s
    # per account; the budget defaults to 90% of the window. A time-scaled run scales both.
    github_server_time_window: float = Field(
        default=60.0, gt=0, le=3600, validation_alias="GITHUB_SERVER_TIME_WINDOW"
    )
    github_server_time_budget: float | None = Field(
        default=None, gt=0, validation_alias="GITHUB_SERVER_TIME_BUDGET"
    )
    data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("backfill-console")),
        validation_alias="BACKFILL_DATA_DIR",
    )

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        """`VAR=` (or only spaces), as .env files and CI secrets that are not set give it, is
        the setting left unset: its default, for every setting alike."""
        if isinstance(value, str) and not value.strip():
            raise PydanticUseDefault
        return value

    @field_validator("github_token")
    @classmethod
    def _token_is_printable_ascii(cls, value: SecretStr | None) -> SecretStr | None:
        """GitHub's tokens are printable ASCII. A trailing newline or no-break space (a
        copy-paste artefact) would fail every request later, one by one; refuse it now."""
        raw = value.get_secret_value() if value is not None else ""
        if raw and not _printable_token(raw):
            raise ValueError(
                "contains whitespace or a character that is not printable ASCII (a copy-paste "
                "artefact?): paste the token again"
            )
        return value

    @field_validator("github_tokens")
    @classmethod
    def _tokens_are_distinct(cls, value: SecretStr | None) -> SecretStr | None:
        """Each token printable ASCII, none twice (twice would count one budget as two).
        Which one is wrong is said by position, never by content."""
        if value is None:
            return None
        tokens = _split_tokens(value.get_secret_value())
        for position, token in enumerate(tokens, start=1):
            if not _printable_token(token):
                raise ValueError(
                    f"token {position} contains a character that is not printable ASCII (a "
                    "copy-paste artefact?): paste it again"
                )
        if len(set(tokens)) != len(tokens):
            raise ValueError("lists the same token twice: list each account's token once")
        return value if tokens else None

    @field_validator("github_app_installation_ids")
    @classmethod
    def _installation_ids_are_numbers(cls, value: str | None) -> str | None:
        if value is not None:
            for part in re.split(r"[\s,]+", value.strip()):
                if not part.isdigit() or int(part) <= 0:
                    raise ValueError(
                        "must be installation ids (positive numbers) separated by commas"
                    )
        return value

    @field_validator("github_api_url")
    @classmethod
    def _api_url_is_safe(cls, value: str | None) -> str | None:
        if value is not None:
            value = value.strip().rstrip("/")
            problem = token_url_problem(value, "GITHUB_API_URL", "the GitHub App's credentials")
            if problem:
                raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _app_is_complete(self) -> Settings:
        """A GitHub App needs its id and exactly one form of its private key; the key must
        be an RSA private key in PEM form. Messages never quote the key."""
        inline, path = self.github_app_private_key, self.github_app_private_key_path
        if inline is not None and path is not None:
            raise ValueError("set GITHUB_APP_PRIVATE_KEY or GITHUB_APP_PRIVATE_KEY_PATH, not both")
        if self.github_app_id is None:
            for name, value in (
                ("GITHUB_APP_PRIVATE_KEY", inline),
                ("GITHUB_APP_PRIVATE_KEY_PATH", path),
                ("GITHUB_APP_INSTALLATION_IDS", self.github_app_installation_ids),
            ):
                if value is not None:
                    raise ValueError(f"{name} is set but GITHUB_APP_ID is not: set both")
            return self
        if inline is None and path is None:
            raise ValueError(
                "GITHUB_APP_ID is set but its private key is not: set GITHUB_APP_PRIVATE_KEY "
                "(the PEM text) or GITHUB_APP_PRIVATE_KEY_PATH (the .pem file GitHub gave you)"
            )
        from core.github.app import load_private_key

        load_private_key(self.github_app_private_key_pem())  # raises a one-line ValueError
        if self.rest_api_url is None:
            raise ValueError(
                "cannot tell GitHub's REST API URL from GITHUB_GRAPHQL_URL: set GITHUB_API_URL "
                "(https://HOST/api/v3 for GitHub Enterprise Server)"
            )
        return self

    def github_app_private_key_pem(self) -> SecretStr:
        """The App's private key as PEM text, from GITHUB_APP_PRIVATE_KEY or the file at
        GITHUB_APP_PRIVATE_KEY_PATH. A key pasted on one line with literal `\\n` (as some
        secret stores keep it) gets its line breaks back.

        Raises ValueError (safe to print: names the file, never its content)."""
        if self.github_app_private_key is not None:
            text = self.github_app_private_key.get_secret_value()
            setting = "GITHUB_APP_PRIVATE_KEY"
        elif self.github_app_private_key_path is not None:
            setting = "GITHUB_APP_PRIVATE_KEY_PATH"
            path = self.github_app_private_key_path.expanduser()
            try:
                text = path.read_text(encoding="ascii")
                mode = path.stat().st_mode & 0o777
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else "not ASCII text"
                raise ValueError(f"{setting}: cannot read {path} ({reason})") from None
            if mode & 0o077:  # as ssh refuses an unprotected key: whoever reads it is the App
                raise ValueError(
                    f"{setting}: {path} can be read or written by other users (mode "
                    f"{mode:04o}); run `chmod 600 {path}`"
                )
        else:
            raise ValueError("no GitHub App private key is configured")
        if "\n" not in text and "\\n" in text:
            text = text.replace("\\n", "\n")
        if "-----BEGIN" not in text or "PRIVATE KEY-----" not in text:
            raise ValueError(
                f"{setting} is not a PEM private key (expected -----BEGIN RSA PRIVATE KEY----- "
                "...): use the .pem file GitHub generated for the App"
            )
        return SecretStr(text)

    @property
    def github_token_list(self) -> list[SecretStr]:
        """GITHUB_TOKENS one by one (empty if unset)."""
        if self.github_tokens is None:
            return []
        return [SecretStr(t) for t in _split_tokens(self.github_tokens.get_secret_value())]

    @property
    def installation_ids(self) -> frozenset[int] | None:
        """GITHUB_APP_INSTALLATION_IDS as numbers; None = every installation of the App."""
        if self.github_app_installation_ids is None:
            return None
        parts = re.split(r"[\s,]+", self.github_app_installation_ids.strip())
        return frozenset(int(p) for p in parts if p)

    @property
    def rest_api_url(self) -> str | None:
        """GitHub's REST API root: GITHUB_API_URL, else derived from GITHUB_GRAPHQL_URL
        (api.github.com/graphql -> https://api.github.com; Enterprise Server's
        https://HOST/api/graphql -> https://HOST/api/v3, as GitHub documents both; any other
        .../graphql, such as the simulator's, -> the part before /graphql). None if it cannot
        be told."""
        if self.github_api_url is not None:
            return self.github_api_url
        return rest_url_for(self.github_graphql_url)

    @model_validator(mode="after")
    def _budget_within_window(self) -> Settings:
        budget = self.github_server_time_budget
        if budget is not None and budget > self.github_server_time_window:
            raise ValueError(
                "GITHUB_SERVER_TIME_BUDGET must not exceed GITHUB_SERVER_TIME_WINDOW (GitHub "
                "allows at most the window's length of server time per window)"
            )
        return self

    @model_validator(mode="after")
    def _reserve_below_any_budget(self) -> Settings:
        """A reserve no GitHub.com budget can hold would make every query wait for a reset
        forever. (Elsewhere, GitHub Enterprise or the simulator, the client refuses it as
        soon as the token's budget is known: `ReserveExceedsBudget`.)"""
        on_github = urlsplit(self.github_graphql_url).hostname == GITHUB_API_HOST
        if on_github and self.min_graphql_points >= GITHUB_LARGEST_GRAPHQL_BUDGET:
            raise ValueError(
                f"MIN_GRAPHQL_POINTS must be below {GITHUB_LARGEST_GRAPHQL_BUDGET:,}, the "
                "largest GraphQL budget GitHub gives a token per hour (a user's is 5,000): a "
                "larger reserve could never be kept (default 500)"
            )
        return self

    @field_validator("github_graphql_url")
    @classmethod
    def _github_url_is_safe(cls, value: str) -> str:
        problem = token_url_problem(value, "GITHUB_GRAPHQL_URL", "GITHUB_TOKEN")
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("supabase_url")
    @classmethod
    def _supabase_url_is_safe(cls, value: str | None) -> str | None:
        if value is not None:
            problem = token_url_problem(value, "SUPABASE_URL", "SUPABASE_SERVICE_KEY")
            if problem:
                raise ValueError(problem)
        return value

    @property
    def backend(self) -> Backend:
        if self.database_url is not None:
            return Backend.POSTGRES
        if self.supabase_url is not None:
            return Backend.SUPABASE
        return Backend.EMBEDDED


_ENV_NAMES = {
    "database_url": "DATABASE_URL",
    "supabase_url": "SUPABASE_URL",
    "supabase_service_key": "SUPABASE_SERVICE_KEY",
    "github_token": "GITHUB_TOKEN",
    "github_graphql_url": "GITHUB_GRAPHQL_URL",
    "github_tokens": "GITHUB_TOKENS",
    "github_app_id": "GITHUB_APP_ID",
    "github_app_private_key": "GITHUB_APP_PRIVATE_KEY",
    "github_app_private_key_path": "GITHUB_APP_PRIVATE_KEY_PATH",
    "github_app_installation_ids": "GITHUB_APP_INSTALLATION_IDS",
    "github_api_url": "GITHUB_API_URL",
    "min_graphql_points": "MIN_GRAPHQL_POINTS",
    "chunk_recovery_minutes": "CHUNK_RECOVERY_MINUTES",
    "data_dir": "BACKFILL_DATA_DIR",
    "github_server_time_window": "GITHUB_SERVER_TIME_WINDOW",
    "github_server_time_budget": "GITHUB_SERVER_TIME_BUDGET",
}


def _printable_token(raw: str) -> bool:
    return raw.isascii() and raw.isprintable() and " " not in raw


def _split_tokens(raw: str) -> list[str]:
    """GITHUB_TOKENS' tokens: separated by commas and/or whitespace (newlines included)."""
    return [t for t in re.split(r"[\s,]+", raw.strip(" \t\r\n"), flags=re.ASCII) if t]


def rest_url_for(graphql_url: str) -> str | None:
    """GitHub's REST root for a GraphQL endpoint (see `Settings.rest_api_url`), or None."""
    parts = urlsplit(graphql_url.strip())
    path = parts.path.rstrip("/")
    if parts.hostname == GITHUB_API_HOST:
        return f"{parts.scheme}://{parts.netloc}"
    if path.endswith("/api/graphql"):  # Enterprise Server: /api/graphql and /api/v3
        return f"{parts.scheme}://{parts.netloc}{path.removesuffix('/graphql')}/v3"
    if path.endswith("/graphql"):
        return f"{parts.scheme}://{parts.netloc}{path.removesuffix('/graphql')}"
    return None


def load_settings(**overrides: Any) -> Settings:
    """Read settings, turning validation failures into one `ConfigError` naming the variable.

    The offending value is never echoed: it may be a secret.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_input=False, include_url=False):
            field = str(err["loc"][0]) if err["loc"] else "settings"
            name = _ENV_NAMES.get(field, field)
            message = str(err["msg"]).removeprefix("Value error, ")
            whole = not err["loc"]  # a check across settings names its variables itself
            problems.append(message if whole or message.startswith(name) else f"{name}: {message}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None


def supabase_url_setting() -> str:
    """Which of SUPABASE_URL / VITE_SUPABASE_URL gave the URL (the first wins, as in Settings)."""
    names = ("SUPABASE_URL", "VITE_SUPABASE_URL")
    for name in names:
        if os.environ.get(name, "").strip():
            return name
    dotenv = Path(".env")
    if dotenv.is_file():
        from dotenv import dotenv_values

        values = dotenv_values(dotenv)
        for name in names:
            if (values.get(name) or "").strip():
                return name
    return names[0]


def token_destination_notice(settings: Settings) -> str | None:
    """One line saying where the GitHub credentials go when that is not GitHub's own API:
    GITHUB_TOKEN(S) to GITHUB_GRAPHQL_URL's host; an App's JWT and tokens also to its REST
    host."""
    host = urlsplit(settings.github_graphql_url).hostname
    if settings.github_app_id is not None:
        rest = urlsplit(settings.rest_api_url or "").hostname
        hosts = sorted({h for h in (host, rest) if h and h != GITHUB_API_HOST})
        if not hosts:
            return None
        return (
            "note: the GitHub App's JWT and installation tokens are sent to "
            f"{' and '.join(hosts)} (GITHUB_GRAPHQL_URL, GITHUB_API_URL), not {GITHUB_API_HOST}"
        )
    if host == GITHUB_API_HOST:
        return None
    if settings.github_tokens is not None:
        return f"note: GITHUB_TOKENS are sent to {host} (GITHUB_GRAPHQL_URL), not {GITHUB_API_HOST}"
    if settings.github_token is None:
        return None
    return f"note: GITHUB_TOKEN is sent to {host} (GITHUB_GRAPHQL_URL), not {GITHUB_API_HOST}"


def in_ci() -> bool:
    """Running in CI (GitHub Actions sets both CI and GITHUB_ACTIONS)."""
    flag = os.environ.get("CI", "").strip().lower()
    return os.environ.get("GITHUB_ACTIONS") == "true" or flag not in ("", "0", "false", "no")


def require_database_in_ci(settings: Settings, command: str) -> None:
    """In CI with no database configured, refuse instead of using a throwaway embedded one
    (a scheduled run whose secret is missing would otherwise pass green having done nothing).
    BACKFILL_ALLOW_EMBEDDED=1 says the embedded database is meant (the demo, tests)."""
    if settings.backend is not Backend.EMBEDDED or not in_ci():
        return
    if os.environ.get("BACKFILL_ALLOW_EMBEDDED") == "1":
        return
    raise ConfigError(
        f"no database is configured for `{command}` in CI: set the repository secret "
        "DATABASE_URL (or SUPABASE_URL and SUPABASE_SERVICE_KEY) and pass it to this step; "
        "it will not run against a throwaway embedded database"
    )
