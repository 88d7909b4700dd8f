"""The real process (``python -m registry``): bad config exits 2, kill -9 keeps acknowledged writes,
SIGTERM drains, flushes and exits 0, the guide's load test passes, metrics on their own port."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.processes import REPO_ROOT, run_registry
from tests.prometheus_tools import promtool

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"DATABASE_TYPE": "oracle"}, "DATABASE_TYPE='oracle'"),
        ({"HEALTH_CHECK_INTERVAL": "30 seconds"}, "HEALTH_CHECK_INTERVAL='30 seconds'"),
        ({"ENCRYPTION_KEY": "short"}, "ENCRYPTION_KEY='<5 bytes>'"),
        ({"LEADER_ELECTION_LEASE_DURATION": "5s"}, "LEADER_ELECTION_RENEW_DEADLINE='10s'"),
    ],
)
def test_bad_configuration_exits_2_with_one_line(env: dict[str, str], expected: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "registry"],
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", "DATABASE_PATH": str(tmp_path / "r.db"), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert not (tmp_path / "r.db").exists(), "nothing was started"


def guide_agent(index: int) -> dict[str, object]:
    return {"id": f"test-agent-{index}", "capabilities": ["test"], "endpoint": f"http://agent-{index}:8080"}


async def register_concurrently(url: str, count: int) -> list[int]:
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def one(index: int) -> int:
            return (await client.post("/agents", json=guide_agent(index))).status_code

        return list(await asyncio.gather(*(one(i) for i in range(count))))


def test_guide_load_test_and_metrics_port(tmp_path: Path) -> None:
    with run_registry(tmp_path) as registry:
        statuses = asyncio.run(register_concurrently(registry.url, 100))
        assert statuses == [200] * 100
        listed = httpx.get(registry.url + "/agents").json()
        assert listed["count"] == 100
        metrics_url = f"http://127.0.0.1:{registry.env['METRICS_PORT']}/metrics"
        text = httpx.get(metrics_url).text
        assert 'mcp_registry_agents_total{status="healthy"} 100.0' in text
        assert 'mcp_registry_requests_total{method="POST",route="/agents",status="200"} 100.0' in text


def test_a_live_scrape_passes_promtool_check_metrics(tmp_path: Path) -> None:
    with run_registry(tmp_path) as registry:
        with httpx.Client(base_url=registry.url) as client:
            assert client.post("/heartbeat", json={"agent_id": "agent-a", "tools": []}).status_code == 200
            assert client.head("/heartbeat/agent-a").status_code == 200
            assert client.head("/heartbeat/agent-nobody").status_code == 410
            assert client.get("/nowhere").status_code == 404
        text = httpx.get(f"http://127.0.0.1:{registry.env['METRICS_PORT']}/metrics").text
    assert "# TYPE mcp_registry_agents_total untyped" in text
    assert "# TYPE process_cpu_seconds_total counter" in text
    checked = promtool("check", "metrics", stdin=text)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert not (checked.stdout + checked.stderr).strip(), "promtool reports no lint problem"


def test_promtool_check_metrics_can_fail() -> None:
    checked = promtool(
        "check", "metrics", stdin="# HELP agents_total Agents\n# TYPE agents_total gauge\nagents_total 1\n"
    )
    assert checked.returncode != 0
    assert "_total" in checked.stdout + checked.stderr


def test_acknowledged_registrations_survive_kill_9(tmp_path: Path) -> None:
    with run_registry(tmp_path) as registry:
        statuses = asyncio.run(register_concurrently(registry.url, 30))
        assert statuses == [200] * 30
        beat = httpx.post(registry.url + "/heartbeat", json={"agent_id": "agent-last", "tools": []})
        assert beat.json()["status"] == "success"
        registry.signal(signal.SIGKILL)
        assert registry.wait(timeout=10) == -signal.SIGKILL
    with run_registry(tmp_path) as restarted:
        listed = httpx.get(restarted.url + "/agents").json()
        assert listed["count"] == 31
        assert "agent-last" in {a["id"] for a in listed["agents"]}


def test_sigterm_drains_flushes_and_exits_0(tmp_path: Path) -> None:
    # Last-seen times are only written at shutdown here, so the flush on SIGTERM is what is tested.
    with run_registry(tmp_path, {"LAST_SEEN_FLUSH_INTERVAL": "1h"}) as registry:
        httpx.post(registry.url + "/heartbeat", json={"agent_id": "agent-a", "tools": []}).raise_for_status()
        time.sleep(0.05)
        assert httpx.head(registry.url + "/heartbeat/agent-a").status_code == 200

        async def load_then_stop() -> tuple[list[int | str], int]:
            """60 concurrent registrations and 3 whose bodies finish only after the SIGTERM, sent once 5
            are answered; count the 200s answered after the signal."""
            answered, after_signal = 0, 0
            five_answered, signalled = asyncio.Event(), asyncio.Event()
            slow_started = [asyncio.Event() for _ in range(3)]
            async with httpx.AsyncClient(base_url=registry.url, timeout=30, limits=httpx.Limits()) as client:

                async def one(index: int) -> int | str:
                    nonlocal answered, after_signal
                    try:
                        status = (await client.post("/agents", json=guide_agent(index))).status_code
                    except httpx.TransportError as exc:  # not yet started when the listener closed
                        return type(exc).__name__
                    answered += 1
                    after_signal += signalled.is_set() and status == 200
                    if answered >= 5:
                        five_answered.set()
                    return status

                async def half_then_the_rest(index: int) -> AsyncIterator[bytes]:
                    body = json.dumps(guide_agent(index)).encode()
                    yield body[:10]
                    slow_started[index - 60].set()  # the first part is on its way: the request is in flight
                    await signalled.wait()
                    await asyncio.sleep(0.2)
                    yield body[10:]

                async def in_flight_at_the_signal(index: int) -> int:
                    nonlocal after_signal
                    headers = {"content-type": "application/json"}
                    response = await client.post(
                        "/agents", content=half_then_the_rest(index), headers=headers
                    )
                    after_signal += response.status_code == 200
                    return response.status_code

                tasks = [asyncio.create_task(one(i)) for i in range(60)]
                slow = [asyncio.create_task(in_flight_at_the_signal(i)) for i in range(60, 63)]
                await asyncio.wait_for(five_answered.wait(), 20)
                for started in slow_started:
                    await asyncio.wait_for(started.wait(), 20)
                registry.signal(signal.SIGTERM)
                signalled.set()
                return list(await asyncio.gather(*tasks, *slow)), after_signal

        outcomes, finished_after_signal = asyncio.run(load_then_stop())
        assert registry.wait(timeout=30) == 0
        assert all(o == 200 or isinstance(o, str) for o in outcomes), outcomes
        assert outcomes[60:] == [200, 200, 200], "requests in flight at SIGTERM were finished"
        assert finished_after_signal >= 3
        assert "registry stopped: batched writes flushed" in registry.log()
    db = sqlite3.connect(tmp_path / "registry.db")
    created, last_seen = db.execute(
        "SELECT created_at, updated_at FROM agents WHERE agent_id = 'agent-a'"
    ).fetchone()
    db.close()
    assert last_seen >= created + 0.05, "the HEAD's last-seen time was flushed at shutdown"
    acknowledged = sum(1 for o in outcomes if o == 200)
    db = sqlite3.connect(tmp_path / "registry.db")
    (stored,) = db.execute("SELECT count(*) FROM agents WHERE agent_id LIKE 'test-agent-%'").fetchone()
    db.close()
    assert stored >= acknowledged


def test_logs_are_json_lines_without_the_token(tmp_path: Path) -> None:
    token = "very-secret-admin-token"
    env = {"AUTH_TOKEN": token, "ENCRYPTION_KEY": "k" * 32, "LOG_LEVEL": "debug"}
    with run_registry(tmp_path, env) as registry:
        for header in (f"Bearer {token}", "Bearer wrong", token):
            httpx.get(registry.url + "/admin/backup", headers={"Authorization": header})
        httpx.post(registry.url + "/heartbeat", json={"agent_id": "agent-a"})
        registry.signal(signal.SIGTERM)
        assert registry.wait(timeout=30) == 0
        log = registry.log()
    assert token not in log
    lines = [line for line in log.splitlines() if line.strip()]
    assert len(lines) > 3
    for line in lines:
        entry = json.loads(line)
        assert {"time", "level", "logger", "msg"} <= set(entry)
    serving = [json.loads(line) for line in lines if '"registry serving"' in line]
    assert [entry["event_loop"] for entry in serving] == ["uvloop"]


def test_unreachable_database_at_start_exits_1_after_the_connect_timeout(tmp_path: Path) -> None:
    env = {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "DATABASE_CONNECT_TIMEOUT": "1s"}
    result = subprocess.run(
        [sys.executable, "-m", "registry"],
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", "REGISTRY_PORT": "1", "METRICS_PORT": "2", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert any(line["msg"] == "database not reachable yet; retrying" for line in lines)
    assert lines[-1]["msg"].startswith("cannot start")
