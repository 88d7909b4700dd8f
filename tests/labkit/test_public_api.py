"""Pin the agreed public API (the notebooks are written against it): names and parameter names."""

from __future__ import annotations

import inspect
from pathlib import Path

import labkit as lk

AGREED_FUNCTIONS = {
    "connect": ["cluster", "namespace"],
    "load_test": ["url", "n", "concurrency", "kind"],
    "sustained_load": ["url", "n", "concurrency", "kind", "seconds"],
    "scrape_metrics": ["url"],
    "sample_metrics": ["url", "every", "duration"],
    "plot_metrics": ["df", "name"],
    "check": ["condition", "what", "hint"],
    "expect_failure": ["fn", "args", "match", "kwargs"],
    "record": ["name", "value"],
    "read_records": ["notebook_path"],
    "show": ["command"],
    "exercise": ["name", "required"],
    "sleep": ["seconds", "what"],
    "try_in_terminal": ["lab", "command", "expect"],
    "try_port_forward_in_terminal": ["lab", "ref", "port", "path", "expect"],
    "setup_dev_registry": ["lab", "image", "timeout"],
    "kubectl_port_forward": ["lab", "ref", "port"],
}
AGREED_AGENT_FUNCTIONS = {
    "start_agent": ["script", "registry_url", "log_dir", "heartbeat_seconds", "port"],
    "call_tool": ["agent", "tool"],
    "call_tool_async": ["agent", "tool"],
}
AGREED_MONITORING_FUNCTIONS = {
    "deploy_prometheus": ["lab", "timeout"],
    "prometheus": ["lab"],
    "wait_for_scrape_after": ["server", "moment", "job", "timeout"],
    "remove_prometheus": ["lab"],
}
AGREED_QUERY_SET_FUNCTIONS = {
    "frames": ["source", "window", "queries"],
    "save_queries": ["source", "window", "path", "queries"],
    "over_load_queries": ["load_seconds"],
    "count_between": ["counter", "before", "after"],
    "sample_after": ["frame", "moment"],
    "leaderless_seconds": ["leaders", "step"],
}
AGREED_LAB_METHODS = {
    "ensure_namespace": [],
    "apply": ["source", "namespace", "images"],
    "delete": ["source_or_ref", "namespace", "wait", "grace_period"],
    "get": ["ref"],
    "exists": ["ref"],
    "table": ["kinds", "selector"],
    "pods": ["selector"],
    "wait_rollout": ["ref", "timeout"],
    "wait_for": ["ref_or_selector", "condition", "timeout"],
    "scale": ["ref", "replicas"],
    "logs": ["pod", "previous", "tail"],
    "events": ["ref"],
    "describe": ["ref"],
    "lease": ["name"],
    "lease_holder": ["name"],
    "can_i": ["verb", "resource", "service_account", "group"],
    "storage_classes": [],
    "kubectl": ["args", "check"],
    "port_forward": ["ref", "port"],
    "exec": ["pod", "command"],
}
AGREED_CLIENT_METHODS = {
    "health": [],
    "ready": [],
    "metrics_text": [],
    "agents": [],
    "capabilities": [],
    "register": ["agent_id", "capabilities", "endpoint"],
    "heartbeat": ["payload"],
    "unregister": ["agent_id"],
    "backup": [],
    "restore": ["blob"],
}


def leading_parameters(fn: object, count: int) -> list[str]:
    names = [p for p in inspect.signature(fn).parameters if p != "self"]  # type: ignore[arg-type]
    return names[:count]


def test_module_functions_keep_their_names_and_leading_parameters() -> None:
    for name, parameters in AGREED_FUNCTIONS.items():
        assert name in lk.__all__
        assert leading_parameters(getattr(lk, name), len(parameters)) == parameters, name


def test_lab_methods_keep_their_names_and_leading_parameters() -> None:
    for name, parameters in AGREED_LAB_METHODS.items():
        assert leading_parameters(getattr(lk.Lab, name), len(parameters)) == parameters, name
    assert isinstance(lk.Lab.kubeconfig, property)


def test_agents_are_exported_with_their_launcher() -> None:
    assert "agents" in lk.__all__
    for name, parameters in AGREED_AGENT_FUNCTIONS.items():
        assert leading_parameters(getattr(lk.agents, name), len(parameters)) == parameters, name
    assert {"name", "proc", "port", "log_path"} <= set(inspect.signature(lk.agents.MeshAgent).parameters)


def test_monitoring_and_query_sets_are_exported_with_what_lesson_06_calls() -> None:
    assert {"monitoring", "query_sets"} <= set(lk.__all__)
    for module, functions in (
        (lk.monitoring, AGREED_MONITORING_FUNCTIONS),
        (lk.query_sets, AGREED_QUERY_SET_FUNCTIONS),
    ):
        for name, parameters in functions.items():
            assert leading_parameters(getattr(module, name), len(parameters)) == parameters, name
    for name in ("QueryWindow", "SavedQueries", "LOAD_QUERIES", "LEADER_QUERIES", "SCRAPE_SECONDS"):
        assert hasattr(lk.query_sets, name), name


def test_registry_client_keeps_its_methods() -> None:
    assert leading_parameters(lk.RegistryClient, 2) == ["url", "token"]
    for name, parameters in AGREED_CLIENT_METHODS.items():
        assert leading_parameters(getattr(lk.RegistryClient, name), len(parameters)) == parameters, name


def test_constants_and_errors() -> None:
    assert isinstance(lk.MANIFESTS, Path)
    assert lk.MANIFESTS.name == "manifests"
    for error in ("LabError", "CheckFailed", "WaitTimeout", "ClusterUnavailable", "NamespaceMissing"):
        assert issubclass(getattr(lk, error), lk.LabError)
