"""MeshJob routes on every database: the protocol's answers, bad input that stores nothing, replicas.

Claims race through guarded updates, so concurrent claimers on several replicas (a barrier over many
trials) must never both win one job.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import sqlalchemy as sa

from registry.storage.jobs import job_events, jobs
from tests.registry.conftest import Follower, Harness, MakeRegistry, tool

PROVIDER = "counter-0001"


async def submit(registry: Harness, capability: str = "slow_count", **extra: Any) -> str:
    body = {
        "capability": capability,
        "submitted_by": "dispatcher-0001",
        "submitted_payload": {"n": 1},
        **extra,
    }
    response = await registry.client.post("/jobs", json=body)
    assert response.status_code == 201, await response.get_data(as_text=True)
    created = await response.get_json()
    assert created["status"] == "working"
    return str(created["id"])


async def claim(registry: Harness, instance: str = PROVIDER, capability: str = "slow_count") -> list[Any]:
    response = await registry.client.post(
        "/jobs/claim", json={"capability": capability, "instance_id": instance}
    )
    assert response.status_code == 200, await response.get_data(as_text=True)
    return list((await response.get_json())["claimed"])


async def batch(registry: Harness, instance: str, *deltas: dict[str, Any]) -> dict[str, Any]:
    response = await registry.client.post(
        "/jobs/batch", json={"instance_id": instance, "deltas": list(deltas)}
    )
    assert response.status_code == 200, await response.get_data(as_text=True)
    return dict(await response.get_json())


async def job(registry: Harness, job_id: str) -> dict[str, Any]:
    response = await registry.client.get(f"/jobs/{job_id}")
    assert response.status_code == 200
    return dict(await response.get_json())


async def rows(registry: Harness) -> tuple[list[Any], list[Any]]:
    """Every job and job event row, read from the database directly."""
    async with registry.runtime.engine.connect() as conn:
        job_rows = (await conn.execute(sa.select(jobs).order_by(jobs.c.job_id))).all()
        event_rows = (await conn.execute(sa.select(job_events).order_by(job_events.c.id))).all()
    return list(job_rows), list(event_rows)


async def provider(registry: Harness, agent_id: str = PROVIDER) -> None:
    await registry.register(
        agent_id, [tool("count", "slow_count", kwargs={"task": True})], http_port=9, http_host="127.0.0.1"
    )


async def test_submit_claim_progress_and_complete(registry: Harness) -> None:
    await provider(registry)
    job_id = await submit(registry, max_duration=30)
    (claimed,) = await claim(registry)
    assert (claimed["id"], claimed["claim_epoch"], claimed["attempt_count"]) == (job_id, 1, 1)
    assert claimed["submitted_payload"] == {"n": 1}
    assert claimed["lease_expires_at"] >= int(time.time()) + 29
    assert await claim(registry) == []  # one claim per job
    progress = await batch(
        registry, PROVIDER, {"id": job_id, "claim_epoch": 1, "progress": 0.5, "progress_message": "half"}
    )
    assert progress == {"accepted": 1, "rejected": []}
    assert (await job(registry, job_id))["progress_message"] == "half"
    done = await batch(
        registry, PROVIDER, {"id": job_id, "claim_epoch": 1, "status": "completed", "result": {"ok": True}}
    )
    assert done == {"accepted": 1, "rejected": []}
    final = await job(registry, job_id)
    assert (final["status"], final["result"], final["progress"]) == ("completed", {"ok": True}, 0.5)
    again = await batch(registry, PROVIDER, {"id": job_id, "claim_epoch": 1, "progress": 0.9})
    assert again["rejected"] == [{"id": job_id, "reason": "already_terminal"}]


async def test_a_claim_from_an_unregistered_instance_gets_no_work_and_changes_nothing(
    registry: Harness,
) -> None:
    await submit(registry)
    before = await rows(registry)
    assert await claim(registry, instance="nobody-registered") == []
    assert await rows(registry) == before


async def test_a_terminal_batch_for_a_job_another_instance_holds_is_rejected(registry: Harness) -> None:
    await provider(registry)
    await provider(registry, "intruder-0002")
    job_id = await submit(registry)
    await claim(registry)
    before = await rows(registry)
    fenced = await batch(registry, "intruder-0002", {"id": job_id, "claim_epoch": 1, "status": "completed"})
    assert fenced == {"accepted": 0, "rejected": [{"id": job_id, "reason": "claim_superseded"}]}
    legacy = await batch(registry, "intruder-0002", {"id": job_id, "status": "failed", "error": "x"})
    assert legacy == {"accepted": 0, "rejected": [{"id": job_id, "reason": "not_owner"}]}
    unknown = await batch(registry, PROVIDER, {"id": "no-such-job", "status": "completed"})
    assert unknown["rejected"] == [{"id": "no-such-job", "reason": "not_found"}]
    assert await rows(registry) == before


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/jobs", {"submitted_by": "x", "submitted_payload": {}}, "capability is required"),
        ("/jobs", {"capability": "c", "submitted_payload": {}}, "submitted_by is required"),
        ("/jobs", {"capability": "c", "submitted_by": "x"}, "submitted_payload is required"),
        (
            "/jobs",
            {"capability": "c", "submitted_by": "x", "submitted_payload": [1]},
            "submitted_payload must be",
        ),
        (
            "/jobs",
            {"capability": 7, "submitted_by": "x", "submitted_payload": {}},
            "capability must be a string",
        ),
        (
            "/jobs",
            {"capability": "c", "submitted_by": "x", "submitted_payload": {}, "max_retries": -1},
            "non-negative",
        ),
        (
            "/jobs",
            {"capability": "c", "submitted_by": "x", "submitted_payload": {}, "max_duration": 0},
            "positive",
        ),
        (
            "/jobs",
            {"capability": "c", "submitted_by": "x", "submitted_payload": {}, "max_retries": True},
            "integer",
        ),
        ("/jobs", [1, 2], "expected a JSON object"),
        ("/jobs/claim", {"instance_id": "i"}, "capability is required"),
        ("/jobs/claim", {"capability": "c"}, "instance_id is required"),
        ("/jobs/batch", {"deltas": [{"id": "j"}]}, "instance_id is required"),
        ("/jobs/batch", {"instance_id": "i", "deltas": []}, "deltas must not be empty"),
        ("/jobs/batch", {"instance_id": "i", "deltas": [{"progress": 1}]}, "non-empty id"),
        (
            "/jobs/batch",
            {"instance_id": "i", "deltas": [{"id": "j", "progress": "x"}]},
            "progress must be a number",
        ),
        ("/jobs/batch", {"instance_id": "i", "deltas": "nope"}, "deltas must be an array"),
    ],
)
async def test_malformed_job_payloads_are_refused_naming_the_field(
    registry: Harness, path: str, body: Any, message: str
) -> None:
    before = await rows(registry)
    response = await registry.client.post(path, json=body)
    assert response.status_code == 400
    assert message in (await response.get_json())["error"]
    assert await rows(registry) == before


async def test_a_body_that_is_not_json_is_refused(registry: Harness) -> None:
    response = await registry.client.post(
        "/jobs", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert (await response.get_json())["error"].startswith("Invalid JSON payload")
    assert await rows(registry) == ([], [])


async def test_list_filters_pages_and_refuses_unknown_statuses(registry: Harness) -> None:
    ids = [await submit(registry, capability=f"cap{i % 2}") for i in range(5)]
    page = await (await registry.client.get("/jobs", query_string={"limit": "2"})).get_json()
    assert len(page["jobs"]) == 2
    assert page["next_cursor"]
    seen = [j["id"] for j in page["jobs"]]
    while page["next_cursor"]:
        query = {"limit": "2", "cursor": page["next_cursor"]}
        page = await (await registry.client.get("/jobs", query_string=query)).get_json()
        seen += [j["id"] for j in page["jobs"]]
    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(set(seen))
    only = await (await registry.client.get("/jobs", query_string={"capability": "cap1"})).get_json()
    assert {j["capability"] for j in only["jobs"]} == {"cap1"}
    for bad in ({"status": "running"}, {"limit": "201"}, {"limit": "0"}, {"cursor": "!!"}):
        response = await registry.client.get("/jobs", query_string=bad)
        assert response.status_code == 400, bad


async def test_events_long_poll_wakes_on_a_post_and_cancel_fences_the_owner(registry: Harness) -> None:
    await provider(registry)
    job_id = await submit(registry)
    (claimed,) = await claim(registry)
    waiting = asyncio.create_task(
        registry.client.get(f"/jobs/{job_id}/events", query_string={"wait": "10", "after": "0"})
    )
    await asyncio.sleep(0.3)
    assert not waiting.done()
    posted = await registry.client.post(
        f"/jobs/{job_id}/events", json={"type": "answer", "payload": {"v": 1}}
    )
    assert (await posted.get_json())["seq"] == 1
    answer = await (await asyncio.wait_for(waiting, 5)).get_json()
    assert [(e["seq"], e["type"], e["payload"]) for e in answer["events"]] == [(1, "answer", {"v": 1})]
    assert answer["next_after"] == 1
    executor = {"instance_id": PROVIDER, "claim_epoch": str(claimed["claim_epoch"])}
    read = await registry.client.get(f"/jobs/{job_id}/events", query_string={**executor, "after": "1"})
    assert read.status_code == 200
    half = await registry.client.get(f"/jobs/{job_id}/events", query_string={"instance_id": PROVIDER})
    assert half.status_code == 400
    cancelled = await (
        await registry.client.post(f"/jobs/{job_id}/cancel", json={"reason": "stop"})
    ).get_json()
    assert cancelled == {"status": "cancelled", "forwarded_to_instance_id": PROVIDER}
    events = await (await registry.client.get(f"/jobs/{job_id}/events")).get_json()
    assert [e["type"] for e in events["events"]] == ["answer", "cancelled"]
    assert (await registry.client.post(f"/jobs/{job_id}/cancel")).status_code == 409
    assert (await registry.client.post(f"/jobs/{job_id}/events", json={"type": "late"})).status_code == 409
    assert (await job(registry, job_id))["error"] == "cancelled: stop"


async def test_reclaim_evicts_the_owner_and_the_next_claim_fences_it(registry: Harness) -> None:
    await provider(registry)
    job_id = await submit(registry, max_retries=3)
    await claim(registry)
    reclaimed = await (await registry.client.post(f"/jobs/{job_id}/reclaim")).get_json()
    assert reclaimed == {"status": "working", "previous_owner_instance_id": PROVIDER, "claim_epoch": 1}
    (again,) = await claim(registry)
    assert (again["claim_epoch"], again["attempt_count"]) == (2, 2)
    stale = await batch(registry, PROVIDER, {"id": job_id, "claim_epoch": 1, "progress": 0.1})
    assert stale["rejected"] == [{"id": job_id, "reason": "claim_superseded"}]
    superseded = await registry.client.get(
        f"/jobs/{job_id}/events", query_string={"instance_id": PROVIDER, "claim_epoch": "1"}
    )
    assert superseded.status_code == 409
    assert (await registry.client.post("/jobs/nope/reclaim")).status_code == 404


async def test_release_gives_the_job_back_then_fails_it_when_attempts_are_spent(registry: Harness) -> None:
    await provider(registry)
    job_id = await submit(registry, max_retries=1)
    await claim(registry)
    wrong = await registry.client.post(f"/jobs/{job_id}/release", json={"instance_id": "someone-else"})
    assert wrong.status_code == 403
    release = {"instance_id": PROVIDER, "reason": "transient"}
    first = await (await registry.client.post(f"/jobs/{job_id}/release", json=release)).get_json()
    assert first == {"status": "working", "attempt_count": 1}
    (again,) = await claim(registry)
    assert again["attempt_count"] == 2
    last = await (await registry.client.post(f"/jobs/{job_id}/release", json=release)).get_json()
    assert last == {"status": "failed", "attempt_count": 2}
    assert (await job(registry, job_id))["error"] == "exhausted (release): transient"
    assert await claim(registry) == []


async def test_drain_stops_claims_but_not_running_jobs(registry: Harness) -> None:
    await provider(registry)
    running = await submit(registry)
    await claim(registry)
    drained = await (await registry.client.post("/admin/drain")).get_json()
    assert drained == {"draining": True, "live_claims": 1}
    queued = await submit(registry)
    assert await claim(registry) == []
    assert (await job(registry, queued))["attempt_count"] == 0
    assert (await batch(registry, PROVIDER, {"id": running, "claim_epoch": 1, "status": "completed"}))[
        "accepted"
    ] == 1
    assert await (await registry.client.get("/admin/drain")).get_json() == {
        "draining": True,
        "live_claims": 0,
    }
    resumed = await (await registry.client.delete("/admin/drain")).get_json()
    assert resumed["draining"] is False
    assert [c["id"] for c in await claim(registry)] == [queued]


async def test_drain_follows_auth_token_when_one_is_set(make_registry: MakeRegistry) -> None:
    registry = await make_registry(AUTH_TOKEN="s3cret")
    assert (await registry.client.post("/admin/drain")).status_code == 401
    assert (await registry.client.get("/admin/drain")).status_code == 401
    bearer = await registry.client.post("/admin/drain", headers={"Authorization": "Bearer s3cret"})
    assert (await bearer.get_json())["draining"] is True
    basic = await registry.client.delete("/admin/drain", headers={"Authorization": "Basic YWRtaW46czNjcmV0"})
    assert (await basic.get_json())["draining"] is False  # admin:s3cret, as meshctl sends a URL's user-info


@pytest.mark.parametrize(  # replicas share a database only on these (on SQLite the leader serves jobs)
    "database_env",
    [pytest.param("postgresql", marks=pytest.mark.postgres), pytest.param("mysql", marks=pytest.mark.mysql)],
    indirect=True,
)
async def test_any_replica_serves_any_job_and_concurrent_claims_never_share_one(
    make_registry: MakeRegistry,
) -> None:
    first, second = await make_registry(), await make_registry()
    await provider(first, "counter-a")
    await provider(first, "counter-b")
    trials = 15
    for _ in range(trials):
        job_id = await submit(first)
        barrier = asyncio.Barrier(2)

        async def race(replica: Harness, instance: str, barrier: asyncio.Barrier) -> list[Any]:
            await barrier.wait()
            return await claim(replica, instance)

        results = await asyncio.gather(race(first, "counter-a", barrier), race(second, "counter-b", barrier))
        winners = [claimed for claimed in results if claimed]
        assert len(winners) == 1, results
        winner = "counter-a" if results[0] else "counter-b"
        done = await batch(
            second if winner == "counter-a" else first, winner, {"id": job_id, "status": "completed"}
        )
        assert done["accepted"] == 1
        assert (await job(second, job_id))["status"] == "completed"


@pytest.mark.parametrize("database_env", ["sqlite"], indirect=True)
async def test_on_sqlite_a_follower_leaves_jobs_to_the_leader(registry: Harness) -> None:
    job_id = await submit(registry)
    registry.runtime.leadership = Follower()
    for method, path in (("GET", f"/jobs/{job_id}"), ("POST", "/jobs/claim"), ("GET", "/jobs")):
        response = await registry.client.open(
            path, method=method, json={"capability": "c", "instance_id": "i"}
        )
        assert response.status_code == 503
        assert "only the leader serves jobs" in (await response.get_json())["error"]


async def test_a_version_1_database_gains_the_job_tables(
    database_env: dict[str, str], make_registry: MakeRegistry
) -> None:
    from registry.storage import migrations

    registry = await make_registry()
    engine = registry.runtime.engine
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: job_events.drop(sync))
        await conn.run_sync(lambda sync: jobs.drop(sync))
        await conn.execute(sa.update(migrations.schema_version).values(version=1))
    assert await migrations.migrate(engine) == (1, migrations.LATEST_VERSION)
    assert await submit(registry)
