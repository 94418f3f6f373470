"""The answer -> outcome table (README "How it works"), one recorded-style sample per shape."""

from __future__ import annotations

import pytest

from core.github.outcomes import Action, AnswerDeadline, AnswerTooLarge, decide
from tests.support.answer_samples import SAMPLES


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_sample_gets_its_one_outcome(name: str) -> None:
    status, headers, body, error, expected = SAMPLES[name]
    outcome = decide(status, headers, body, error)
    assert outcome.action == Action(expected), (name, outcome)
    assert outcome.reason or outcome.action is Action.OK


def test_limits_are_waits_whatever_their_wrapping() -> None:
    for name in ("rate_limit_message_only_200", "rate_limited", "rate_limit_new"):
        status, headers, body, error, _ = SAMPLES[name]
        assert decide(status, headers, body, error).limit == "primary", name
    for name in ("secondary_403_json", "secondary_403_text"):
        status, headers, body, error, _ = SAMPLES[name]
        assert decide(status, headers, body, error).limit == "secondary", name
    assert decide(*SAMPLES["secondary_403_json"][:4]).retry_after == 60


def test_saml_says_what_to_do() -> None:
    outcome = decide(*SAMPLES["saml"][:4])
    assert "SAML SSO authorisation" in outcome.reason


def test_github_timeout_in_a_200_shrinks_at_once_blips_retry_in_place() -> None:
    assert not decide(*SAMPLES["went_wrong_200"][:4]).in_place
    assert decide(*SAMPLES["connection_reset"][:4]).in_place
    assert decide(None, error=AnswerDeadline("over 60 s")).action is Action.SHRINK
    too_large = decide(None, error=AnswerTooLarge("over 64 MB"))
    assert too_large.action is Action.SHRINK and not too_large.in_place


def test_a_vanished_follow_up_is_a_partial_ok() -> None:
    outcome = decide(*SAMPLES["node_vanished"][:4])
    assert outcome.partial and outcome.payload is not None


def _answer(data: object, *errors: dict) -> bytes:
    import json

    return json.dumps({"data": data, "errors": list(errors)}).encode()


FORBIDDEN_IN_ONE_PR = {
    "type": "FORBIDDEN",
    "path": ["repository", "pullRequests", "edges", 7, "node", "commits"],
    "extensions": {"saml_failure": False},
    "message": "Resource not accessible by integration",
}


def test_an_error_located_in_one_pr_beside_data_refuses_that_pr_alone() -> None:
    """The smallest unit that is bad is the one refused: an error whose path points into one
    PR (a page's edge, a follow-up or retry alias) is that PR's, with GitHub's words; the
    answer is ok for the rest."""
    data = {"repository": {"pullRequests": {"edges": []}}, "f2": None}
    vanished = {"type": "NOT_FOUND", "path": ["f2"], "message": "Could not resolve to a node"}
    outcome = decide(200, {}, _answer(data, FORBIDDEN_IN_ONE_PR, vanished))
    assert outcome.action is Action.OK and outcome.partial
    assert outcome.item_errors == {
        7: "FORBIDDEN at repository.pullRequests.edges.7.node.commits: "
        "Resource not accessible by integration",
        "f2": "NOT_FOUND at f2: Could not resolve to a node",
    }


def test_an_error_located_in_no_single_pr_still_decides_the_answer() -> None:
    """FORBIDDEN at the repository fails the backfill, an unknown error at the PR list fails
    the chunk, and a timeout shrinks the page, whatever errors are located beside them."""
    repository = dict(FORBIDDEN_IN_ONE_PR, path=["repository"])
    assert decide(200, {}, _answer(None, repository)).action is Action.FAIL_BACKFILL
    on_the_list = {"type": "INTERNAL", "path": ["repository", "pullRequests"], "message": "x"}
    mixed = decide(200, {}, _answer({"repository": None}, FORBIDDEN_IN_ONE_PR, on_the_list))
    assert mixed.action is Action.FAIL_CHUNK and mixed.error_type == "INTERNAL"
    heavy = dict(FORBIDDEN_IN_ONE_PR, type="RESOURCE_LIMITS_EXCEEDED")
    assert decide(200, {}, _answer({"repository": None}, heavy)).action is Action.SHRINK
    # Without data beside it there is nothing else to use: decided as before.
    assert decide(200, {}, _answer(None, FORBIDDEN_IN_ONE_PR)).action is Action.FAIL_BACKFILL


def test_an_answer_with_bytes_that_are_not_utf8_is_read_not_refused() -> None:
    """One field's bytes that are not UTF-8 (an overlong NUL, C0 80) no longer make the whole
    answer "malformed JSON": they arrive as lone surrogates, which the store replaces."""
    body = b'{"data":{"repository":{"title":"a\xc0\x80b"}}}'
    outcome = decide(200, {}, body)
    assert outcome.action is Action.OK and outcome.payload is not None
    assert outcome.payload["data"]["repository"]["title"] == "a\udcc0\udc80b"
