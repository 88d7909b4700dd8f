"""RegistryClient against a stand-in registry on loopback, and its errors when nothing answers."""

from __future__ import annotations

import pytest

import labkit as lk
from tests.labkit.stub_registry import StubState
from tests.processes import free_port


def test_reads_health_readiness_agents_and_metrics(stub: tuple[str, StubState]) -> None:
    url, state = stub
    reg = lk.RegistryClient(url + "/")
    assert reg.health()["status"] == "healthy"
    assert reg.ready() is True
    state.ready = False
    assert reg.ready() is False
    assert reg.readiness() == {"status_code": 503, "ready": False, "reason": "stub"}
    assert "mcp_registry_agents_total" in reg.metrics_text()


def test_register_heartbeat_and_unregister_round_trip(stub: tuple[str, StubState]) -> None:
    url, state = stub
    with lk.RegistryClient(url) as reg:
        reg.register("agent-a", ["greeting"], "http://agent-a:8080")
        reg.heartbeat({"agent_id": "agent-b", "tools": []})
        assert sorted(str(a.get("id") or a.get("agent_id")) for a in reg.agents()) == ["agent-a", "agent-b"]
        assert reg.fast_heartbeat("agent-b") == 200
        reg.unregister("agent-b")
        assert reg.fast_heartbeat("agent-b") == 410
    assert list(state.agents) == ["agent-a"]


def test_a_semantic_heartbeat_error_raises_with_the_registrys_message(stub: tuple[str, StubState]) -> None:
    url, _ = stub
    with pytest.raises(lk.RegistryError, match="validation failed: agent_id"):
        lk.RegistryClient(url).heartbeat({"agent_id": "Bad_ID"})


def test_an_error_status_names_the_request_and_the_reason(stub: tuple[str, StubState]) -> None:
    url, _ = stub
    with pytest.raises(
        lk.RegistryError, match=r"GET /admin/backup with HTTP 401: missing or wrong bearer token"
    ):
        lk.RegistryClient(url).backup()


def test_backup_and_restore_with_the_token(stub: tuple[str, StubState]) -> None:
    url, state = stub
    reg = lk.RegistryClient(url, token="secret")
    reg.register("agent-a", ["x"], "http://a:1")
    blob = reg.backup()
    state.agents.clear()
    assert reg.restore(blob) == {"restored": 1}
    assert list(state.agents) == ["agent-a"]


def test_a_registry_that_does_not_answer_is_one_clear_error() -> None:
    reg = lk.RegistryClient(f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(lk.RegistryUnavailable, match=r"does not answer .*is the port-forward open"):
        reg.health()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda reg: reg.register("a", "cap", "http://a:1"), "capabilities must be a list of strings"),
        (lambda reg: reg.register(7, ["c"], "http://a:1"), "agent_id must be str, not int"),
        (lambda reg: reg.restore("text"), "blob must be the bytes backup"),
    ],
)
def test_parameters_of_the_wrong_type_are_rejected_before_sending(
    stub: tuple[str, StubState], call: object, message: str
) -> None:
    url, state = stub
    with pytest.raises(lk.BadParameter, match=message):
        call(lk.RegistryClient(url))  # type: ignore[operator]
    assert state.requests == 0


def test_a_url_without_scheme_is_a_bad_parameter() -> None:
    with pytest.raises(lk.BadParameter, match="url must start with http"):
        lk.RegistryClient("localhost:8000")
