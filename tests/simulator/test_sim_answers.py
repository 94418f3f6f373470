"""The simulator answers introspection, and the aimed fault syntax."""

from __future__ import annotations

import json

import pytest

from core.simulator import FaultSpec, RepoSpec, SimConfig, Simulator


def ask(sim: Simulator, query: str) -> tuple[int, dict]:
    body = json.dumps({"query": query}).encode()
    response = sim.handle("POST", "/graphql", {"authorization": "bearer t"}, body)
    return response.status, json.loads(response.body)


def test_introspection_is_answered() -> None:  # case 19: it was KeyError '__schema'
    sim = Simulator(SimConfig(repos=[RepoSpec("o", "r", 3)]))
    status, body = ask(sim, "{ __schema { types { name } } }")
    assert status == 200 and "errors" not in body
    assert "PullRequest" in {t["name"] for t in body["data"]["__schema"]["types"]}
    status, body = ask(sim, '{ __type(name: "PullRequest") { name } rateLimit { cost } }')
    assert body["data"]["__type"] == {"name": "PullRequest"} and body["data"]["rateLimit"]


def test_aimed_fault_syntax() -> None:  # case 20
    spec = FaultSpec.parse("502:0.1,saml@Acme/Api,vanish@acme/web#12,secondary@acme/x*3")
    assert spec.rates == {"502": 0.1}
    assert [(t.kind, t.repo, t.number, t.times) for t in spec.targets] == [
        ("saml", "acme/api", None, None),
        ("vanish", "acme/web", 12, None),
        ("secondary", "acme/x", None, 3),
    ]
    for bad in ("vanish@a/b", "saml@a/b#3", "nope@a/b"):
        with pytest.raises(ValueError):
            FaultSpec.parse(bad)
