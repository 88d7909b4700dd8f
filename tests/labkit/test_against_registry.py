"""The registry client, load generator and metrics scraper against this checkout's real registry process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import labkit as lk
from tests.processes import RunningProcess, run_registry

TOKEN = "test-token"
KEY = "0123456789abcdef0123456789abcdef"  # exactly 32 bytes

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProcess]:
    env = {"AUTH_TOKEN": TOKEN, "ENCRYPTION_KEY": KEY}
    with run_registry(Path(tmp_path_factory.mktemp("registry")), env) as running:
        yield running


def test_reads(registry: RunningProcess) -> None:
    reg = lk.RegistryClient(registry.url)
    assert reg.health()["status"] == "healthy"
    assert reg.ready() is True
    assert reg.readiness()["status_code"] == 200
    assert "mcp_registry_agents_total" in reg.metrics_text()


def test_register_resolve_and_unregister(registry: RunningProcess) -> None:
    reg = lk.RegistryClient(registry.url)
    reg.register("greeter-1", ["greeting"], "http://greeter-1:8080")
    assert "greeter-1" in {agent["id"] for agent in reg.agents()}
    greeting = next(c for c in reg.capabilities() if c["name"] == "greeting")
    assert [p["agent_id"] for p in greeting["providers"]] == ["greeter-1"]
    reply = reg.heartbeat(
        {
            "agent_id": "consumer-1",
            "tools": [
                {"function_name": "hi", "capability": "hi", "dependencies": [{"capability": "greeting"}]}
            ],
        }
    )
    assert reply["status"] == "success"
    assert reply["dependencies_resolved"]["hi"][0]["agent_id"] == "greeter-1"
    assert reg.fast_heartbeat("consumer-1") in (200, 202)
    reg.unregister("consumer-1")
    assert reg.fast_heartbeat("consumer-1") == 410


def test_a_rejected_heartbeat_raises_with_the_registrys_reason(registry: RunningProcess) -> None:
    with pytest.raises(lk.RegistryError, match="agent_id"):
        lk.RegistryClient(registry.url).heartbeat({"agent_id": "Not_Valid"})


def test_backup_needs_the_token_and_restores(registry: RunningProcess) -> None:
    with pytest.raises(lk.RegistryError, match="HTTP 401"):
        lk.RegistryClient(registry.url).backup()
    reg = lk.RegistryClient(registry.url, token=TOKEN)
    reg.register("kept-1", ["keep"], "http://kept:1")
    blob = reg.backup()
    assert b"kept-1" not in blob  # encrypted
    reg.unregister("kept-1")
    assert {a["id"]: a["status"] for a in reg.agents()}["kept-1"] == "unhealthy"
    assert isinstance(reg.restore(blob), dict)
    assert {a["id"]: a["status"] for a in reg.agents()}["kept-1"] == "healthy"


@pytest.mark.parametrize("kind", ["register", "heartbeat", "fast-heartbeat"])
def test_load_kinds_all_succeed(registry: RunningProcess, kind: str) -> None:
    result = lk.load_test(
        registry.url, n=30, concurrency=10, kind=kind, prefix=f"load-{kind}", progress=False
    )
    assert result.summary["requests"] == 30
    assert result.summary["success_rate"] == 1.0, result.df[~result.df["ok"]].head()
    healthy = lk.select_metric(lk.scrape_metrics(registry.url), "mcp_registry_agents_total", status="healthy")
    assert healthy["value"].sum() >= 30
