"""GitHub App and several-account settings: one clear line for each mistake, never a piece of
the key or a token in it; the REST URL derived from GITHUB_GRAPHQL_URL as GitHub lays it out."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from core.config import load_settings
from core.errors import ConfigError


@pytest.fixture(scope="module")
def pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def body_of(pem: str) -> list[str]:
    return [line for line in pem.splitlines() if "-----" not in line]


def refused(**settings: object) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(**settings)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_an_app_with_its_key_inline_or_in_a_file_loads(pem: str, tmp_path: Path) -> None:
    inline = load_settings(github_app_id=12, github_app_private_key=pem)
    assert inline.github_app_private_key_pem().get_secret_value() == pem
    one_line = load_settings(github_app_id=12, github_app_private_key=pem.replace("\n", "\\n"))
    assert one_line.github_app_private_key_pem().get_secret_value() == pem
    path = tmp_path / "app.pem"
    path.write_text(pem)
    path.chmod(0o600)
    from_file = load_settings(github_app_id=12, github_app_private_key_path=str(path))
    assert from_file.github_app_private_key_pem().get_secret_value() == pem
    assert pem not in repr(inline) and body_of(pem)[1] not in str(inline.model_dump())


def test_app_mistakes_are_one_clear_line_without_the_key(pem: str, tmp_path: Path) -> None:
    path = tmp_path / "app.pem"
    path.write_text(pem)
    path.chmod(0o600)
    shared = tmp_path / "shared.pem"
    shared.write_text(pem)
    shared.chmod(0o644)
    cases = {
        f"{shared} can be read or written by other users (mode 0644); run `chmod 600": dict(
            github_app_id=1, github_app_private_key_path=str(shared)
        ),
        "not both": dict(
            github_app_id=1, github_app_private_key=pem, github_app_private_key_path=str(path)
        ),
        "GITHUB_APP_PRIVATE_KEY is set but GITHUB_APP_ID is not": dict(github_app_private_key=pem),
        "GITHUB_APP_INSTALLATION_IDS is set but GITHUB_APP_ID is not": dict(
            github_app_installation_ids="5"
        ),
        "its private key is not": dict(github_app_id=1),
        f"cannot read {tmp_path / 'missing.pem'} (No such file or directory)": dict(
            github_app_id=1, github_app_private_key_path=str(tmp_path / "missing.pem")
        ),
        f"cannot read {tmp_path} (Is a directory)": dict(
            github_app_id=1, github_app_private_key_path=str(tmp_path)
        ),
        "GITHUB_APP_PRIVATE_KEY is not a PEM private key": dict(
            github_app_id=1, github_app_private_key="".join(body_of(pem))
        ),
        "is not a valid PEM private key": dict(
            github_app_id=1, github_app_private_key=pem.replace(body_of(pem)[2], "x" * 64)
        ),
        "GITHUB_APP_INSTALLATION_IDS: must be installation ids": dict(
            github_app_id=1, github_app_private_key=pem, github_app_installation_ids="12,abc"
        ),
        "GITHUB_APP_ID": dict(github_app_id="abc", github_app_private_key=pem),
        "GITHUB_API_URL uses plain http:// to example.com": dict(
            github_app_id=1, github_app_private_key=pem, github_api_url="http://example.com"
        ),
        "GITHUB_API_URL must not contain user:password@": dict(
            github_app_id=1,
            github_app_private_key=pem,
            github_api_url="https://me:pw@example.com/api/v3",
        ),
        "set GITHUB_API_URL": dict(
            github_app_id=1,
            github_app_private_key=pem,
            github_graphql_url="https://proxy.example.com/gql",
        ),
    }
    for expected, settings in cases.items():
        message = refused(**settings)
        assert expected in message, (expected, message)
        for line in body_of(pem):
            assert line not in message and line[:16] not in message


def test_a_key_that_is_not_rsa_is_refused() -> None:
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    message = refused(github_app_id=1, github_app_private_key=ec_pem)
    assert "not an RSA key" in message
    assert all(line not in message for line in body_of(ec_pem))


@pytest.mark.parametrize(
    ("graphql", "rest"),
    [
        ("https://api.github.com/graphql", "https://api.github.com"),
        ("https://ghe.example.com/api/graphql", "https://ghe.example.com/api/v3"),
        ("http://127.0.0.1:8123/graphql", "http://127.0.0.1:8123"),
        ("https://api.acme.ghe.com/graphql", "https://api.acme.ghe.com"),
        ("https://proxy.example.com/gql", None),
    ],
)
def test_the_rest_url_is_derived_from_the_graphql_url(graphql: str, rest: str | None) -> None:
    assert load_settings(github_graphql_url=graphql).rest_api_url == rest
    explicit = load_settings(github_graphql_url=graphql, github_api_url="https://r.example/v3/")
    assert explicit.rest_api_url == "https://r.example/v3"


def test_github_tokens_are_split_and_checked_without_echoing_them() -> None:
    settings = load_settings(github_tokens="tok-aaaa-1111, tok-bbbb-2222\ntok-cccc-3333")
    assert [t.get_secret_value() for t in settings.github_token_list] == [
        "tok-aaaa-1111",
        "tok-bbbb-2222",
        "tok-cccc-3333",
    ]
    assert "tok-aaaa" not in repr(settings)
    twice = refused(github_tokens="tok-dup-4444,tok-dup-4444")
    assert "GITHUB_TOKENS: lists the same token twice" in twice and "tok-dup" not in twice
    odd = refused(github_tokens="tok-ok-5555,tok-bad-\u00a06666")
    assert "GITHUB_TOKENS: token 2 contains a character" in odd and "tok-" not in odd
    assert load_settings(github_tokens="  ").github_token_list == []


def test_the_notice_names_where_an_apps_credentials_go(pem: str) -> None:
    from core.config import token_destination_notice

    github = load_settings(github_app_id=3, github_app_private_key=pem)
    assert token_destination_notice(github) is None
    ghes = load_settings(
        github_app_id=3,
        github_app_private_key=pem,
        github_graphql_url="https://ghe.example.com/api/graphql",
    )
    notice = token_destination_notice(ghes)
    assert notice is not None and "ghe.example.com (GITHUB_GRAPHQL_URL, GITHUB_API_URL)" in notice
