"""What pacing keeps in the database: each process's server-time figures per token, shared
with the other processes on the token, and the page size a backfill settled on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.store import Store


async def publish(store: Store, process: str, used: float) -> dict:
    return await store.record_rate_limit(
        "sha256:abc",
        remaining=4000,
        limit=5000,
        used=1000,
        reset_at=datetime.now(UTC) + timedelta(hours=1),
        process=process,
        server_time={"used_seconds": used, "window_seconds": 60.0, "budget_seconds": 54.0},
    )


async def test_each_process_sees_the_others_server_time_on_its_token(store: Store) -> None:
    assert await publish(store, "a", 10.0) == {}
    others = await publish(store, "b", 20.0)
    assert set(others) == {"a"}
    assert others["a"]["used_seconds"] == 10.0 and 0 <= others["a"]["age"] < 5
    others = await publish(store, "a", 12.0)
    assert set(others) == {"b"} and others["b"]["used_seconds"] == 20.0
    (record,) = await store.rate_limits()
    assert {k: v["used_seconds"] for k, v in record.server_time.items()} == {"a": 12.0, "b": 20.0}


async def test_the_page_size_is_remembered_under_the_lease(store: Store) -> None:
    reg = await store.register_backfill("octo", "paced", 100)
    lease = await store.claim_backfill("w1", lease_seconds=60)
    assert lease is not None and lease.page_size is None
    assert await store.remember_page_size(lease, 18)
    await store.release(lease)
    again = await store.claim_backfill("w2", lease_seconds=60)
    assert again is not None and again.backfill_state_id == reg.backfill_state_id
    assert again.page_size == 18
    assert not await store.remember_page_size(lease, 30)  # a stale lease changes nothing
    assert await store.remember_page_size(again, 30)


async def test_stats_show_the_tokens_server_time_over_its_processes(store: Store) -> None:
    from core.monitoring import collect_stats

    for process, used in (("a", 10.0), ("b", 20.0)):
        await store.record_rate_limit(
            "sha256:abc",
            remaining=4000,
            limit=5000,
            used=1000,
            reset_at=datetime.now(UTC) + timedelta(hours=1),
            process=process,
            server_time={
                "used_seconds": used,
                "window_seconds": 60.0,
                "budget_seconds": 54.0,
                "target_seconds": 5.0,
                "over_target": 2,
                "timeouts": 1,
                "secondary": 0,
                "prs_per_hour": 15000.0,
            },
        )
    (budget,) = (await collect_stats(store)).to_json()["graphql"]
    assert budget["serverTime"] == {
        "usedSeconds": 30.0,
        "budgetSeconds": 54.0,
        "windowSeconds": 60.0,
        "targetSeconds": 5.0,
        "answersOverTarget": 4,
        "timeouts": 2,
        "secondaryLimits": 0,
        "prsPerHour": 30000.0,
        "processes": 2,
    }
