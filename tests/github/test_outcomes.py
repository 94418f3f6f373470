"""The answer -> outcome table (README "How it works"), one recorded-style sample per shape."""

from __future__ import annotations

import pytest

from core.github.outcomes import Action, AnswerDeadline, AnswerTooLarge, decide
from tests.github.answer_samples import SAMPLES


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
