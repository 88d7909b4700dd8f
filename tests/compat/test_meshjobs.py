"""MeshJobs between real agents: a ``task=True`` call through our registry and through Go's, with
progress and a cancel; and jobs that outlive a registry restart, ``kill -9`` included.

The provider (``counter``) claims ``slow_count`` jobs and reports progress after each step; the
consumer (``dispatcher``) submits them through its injected ``MeshJob`` and cancels them through the
SDK (``mesh.jobs.cancel``), which makes the registry forward the cancel to the provider.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from labkit.agents import MeshAgent, call_tool_async
from tests.compat.agent_processes import start_serving_agent, wait_for
from tests.compat.go_registry import run_go_registry
from tests.conftest import require_service
from tests.processes import REPO_ROOT, RunningProcess, free_port, run_registry, run_server

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(
    params=[
        pytest.param("ours", marks=pytest.mark.agents),
        pytest.param("go", marks=[pytest.mark.agents, pytest.mark.gocompat]),
    ]
)
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningProcess]:
    if request.param == "ours":
        with run_registry(tmp_path) as running:
            yield running
    else:
        request.getfixturevalue("go_registry_bin")
        with run_go_registry(tmp_path) as running:
            yield running


def agent(script: str, registry_url: str, workdir: Path) -> MeshAgent:
    return start_serving_agent(script, registry_url, workdir)


def call(consumer: MeshAgent, tool: str, **arguments: Any) -> str:
    return asyncio.run(call_tool_async(consumer, tool, **arguments))


def job(registry_url: str, job_id: str) -> dict[str, Any]:
    response = httpx.get(f"{registry_url}/jobs/{job_id}", timeout=10)
    response.raise_for_status()
    return dict(response.json())


def wired(consumer: MeshAgent) -> str:
    """Wait until the consumer's slow_count dependency resolves and its MCP endpoint answers."""
    answers: list[str] = []

    def ready() -> bool:
        try:
            answers.append(call(consumer, "run_count", steps=1, delay=0.01))
        except Exception as exc:  # the endpoint may still be starting
            answers.append(f"error: {exc!r}")
        return answers[-1].startswith("{")

    wait_for(ready, timeout=90, interval=1, what="run_count to answer", describe=lambda: str(answers[-3:]))
    return answers[-1]


def test_a_task_call_reports_progress_completes_and_can_be_cancelled(
    registry: RunningProcess, tmp_path: Path
) -> None:
    with (
        agent("counter", registry.url, tmp_path) as provider,
        agent("dispatcher", registry.url, tmp_path) as consumer,
    ):
        wired(consumer)
        answer = json.loads(call(consumer, "run_count", steps=3, delay=0.2))
        assert answer["result"] == {"counted": 3}
        done = job(registry.url, answer["job_id"])
        assert (done["status"], done["progress"], done["progress_message"]) == (
            "completed",
            1.0,
            "step 3 of 3",
        )
        assert done["owner_instance_id"].startswith("counter-")
        assert done["submitted_by"].startswith("dispatcher-")

        job_id = call(consumer, "start_count", steps=200, delay=0.2)
        seen: list[float] = []
        wait_for(
            lambda: seen.append(job(registry.url, job_id)["progress"] or 0) or seen[-1] > 0,
            timeout=30,
            what="progress on the long job",
        )
        status = json.loads(call(consumer, "cancel_count", job_id=job_id, reason="test over"))
        assert status["status"] == "cancelled"
        wait_for(
            lambda: f"cancel route: job_id={job_id}" in provider.log(),
            timeout=20,
            what="the provider to receive the forwarded cancel",
            describe=lambda: provider.log()[-2000:],
        )
        stopped_at = job(registry.url, job_id)
        time.sleep(1.5)
        after = job(registry.url, job_id)
        assert after["status"] == "cancelled"
        assert after["progress"] == stopped_at["progress"] < 1.0, (
            "the provider kept counting after the cancel"
        )
        events = httpx.get(f"{registry.url}/jobs/{job_id}/events", timeout=10).json()["events"]
        assert [(e["type"], e["payload"]) for e in events] == [("cancelled", {"reason": "test over"})]


# ---- durability: our registry only --------------------------------------------------------------


def database_envs() -> list[Any]:
    return [pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=database_envs())
def database_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {"DATABASE_TYPE": "sqlite", "DATABASE_PATH": str(tmp_path / "registry.db")}
        return
    require_service("PostgreSQL", "127.0.0.1", 5432)
    import asyncpg

    name = f"registry_jobs_{int(time.time() * 1000) % 10**9}"

    async def admin(statement: str) -> None:
        conn = await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres", database="postgres")
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield {"DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{name}"}
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class Registry:
    """Our registry on a fixed port and database, started and killed as the test says."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.env = {
            **env,
            "REGISTRY_HOST": "127.0.0.1",
            "REGISTRY_PORT": str(self.port),
            "METRICS_PORT": str(free_port()),
            "LOG_LEVEL": "info",
        }
        self.url = f"http://127.0.0.1:{self.port}"
        self.starts = 0

    def run(self) -> Any:
        import os

        self.starts += 1
        log_path = self.workdir / f"registry-{self.port}-{self.starts}.log"
        command = [sys.executable, "-m", "registry"]
        return run_server(command, REPO_ROOT, {**os.environ, **self.env}, log_path, self.port, 30.0)


def test_acknowledged_jobs_survive_kill_9(database_env: dict[str, str], tmp_path: Path) -> None:
    """Submitters race a SIGKILL: every job the registry answered 201 for is there after the restart."""
    registry = Registry(tmp_path, database_env)
    acknowledged: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def submit_forever(worker: int) -> None:
        with httpx.Client(base_url=registry.url, timeout=5) as client:
            for n in range(100_000):
                if stop.is_set():
                    return
                payload = {"worker": worker, "n": n}
                body = {"capability": "durable", "submitted_by": f"w{worker}", "submitted_payload": payload}
                try:
                    response = client.post("/jobs", json=body)
                except httpx.HTTPError:
                    continue  # the registry is gone: this one was never acknowledged
                if response.status_code == 201:
                    with lock:
                        acknowledged[response.json()["id"]] = payload

    with registry.run() as first:
        workers = [threading.Thread(target=submit_forever, args=(w,)) for w in range(4)]
        for thread in workers:
            thread.start()
        wait_for(lambda: len(acknowledged) >= 200, timeout=60, what="200 acknowledged submissions")
        first.signal(signal.SIGKILL)
        first.wait(10)
        stop.set()
        for thread in workers:
            thread.join(10)
    assert len(acknowledged) >= 200
    with registry.run(), httpx.Client(base_url=registry.url, timeout=10) as client:
        missing = []
        for job_id, payload in acknowledged.items():
            response = client.get(f"/jobs/{job_id}")
            if response.status_code != 200 or response.json()["submitted_payload"] != payload:
                missing.append((job_id, response.status_code))
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged jobs were lost: {missing[:5]}"


def test_a_running_job_completes_across_a_registry_kill_9(
    database_env: dict[str, str], tmp_path: Path
) -> None:
    registry = Registry(tmp_path, {**database_env, "AGENT_TIMEOUT": "30s", "HEALTH_CHECK_INTERVAL": "1s"})
    with (
        registry.run() as first,
        agent("counter", registry.url, tmp_path) as _provider,
        agent("dispatcher", registry.url, tmp_path) as consumer,
    ):
        wired(consumer)
        job_id = call(consumer, "start_count", steps=30, delay=0.3)
        wait_for(lambda: (job(registry.url, job_id)["progress"] or 0) > 0, timeout=30, what="progress")
        before = job(registry.url, job_id)
        first.signal(signal.SIGKILL)
        first.wait(10)
        time.sleep(2)  # the provider keeps counting while the registry is away
        with registry.run():
            after_restart = job(registry.url, job_id)
            assert after_restart["id"] == job_id
            assert after_restart["claim_epoch"] == before["claim_epoch"]
            assert after_restart["progress"] >= before["progress"]
            wait_for(
                lambda: job(registry.url, job_id)["status"] == "completed",
                timeout=90,
                what="the job to complete after the restart",
                describe=lambda: str(job(registry.url, job_id)),
            )
            assert job(registry.url, job_id)["result"] == {"counted": 30}
