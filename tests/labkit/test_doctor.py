"""``labkit doctor``'s host checks: what the local kubelet node takes from this machine, each with its fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit import doctor
from labkit.cluster.kubelet import tools
from tests.prometheus_tools import require_tool


def by_name(findings: list[doctor.Finding]) -> dict[str, doctor.Finding]:
    return {f.name.split(" (")[0]: f for f in findings}


def test_a_missing_program_and_no_root_are_findings_with_their_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor.os, "geteuid", lambda: 1000)
    real_which = doctor.shutil.which
    monkeypatch.setattr(doctor.shutil, "which", lambda tool: None if tool == "nsenter" else real_which(tool))
    findings = by_name(doctor.host_findings())
    assert not findings["root"].ok
    assert "uid 1000" in findings["root"].detail
    assert "as root" in findings["root"].fix
    assert not findings["program nsenter"].ok
    assert findings["program nsenter"].fix == "apt-get install util-linux"
    assert findings["program ip"].ok


def test_node_packages_not_fetched_yet_say_how_to_get_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tools, "tools_dir", lambda cache=None: tmp_path / "empty")
    findings = by_name(doctor.host_findings())
    for name in ("containerd", "runc", "CNI plugins"):
        assert not findings[name].ok, name
        assert findings[name].detail == "not fetched yet"
        assert "labkit cluster up" in findings[name].fix
    assert all("\n" not in f.fix for f in findings.values()), "each fix is one line"


def test_a_machine_without_a_memory_cgroup_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "cgroup_detail", lambda: None)
    finding = by_name(doctor.host_findings())["cgroups"]
    assert not finding.ok
    assert "mount -t cgroup2" in finding.fix


def test_the_host_is_checked_for_the_local_cluster_only() -> None:
    names = [f.name for f in doctor.run_doctor("no-such-context")]
    assert not any(name.startswith(("root", "program", "containerd", "cgroups")) for name in names)
    assert "JupyterLab kernel" in names


def test_missing_prometheus_and_promtool_name_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    real_which = doctor.shutil.which
    monkeypatch.setattr(
        doctor.shutil, "which", lambda tool: None if tool in ("prometheus", "promtool") else real_which(tool)
    )
    findings = by_name(doctor.host_findings())
    for tool in ("prometheus", "promtool"):
        assert not findings[tool].ok
        assert findings[tool].detail == "missing"
        assert "apt-get install -y --no-install-recommends prometheus" in findings[tool].fix


def test_installed_prometheus_and_promtool_are_found() -> None:
    for tool in ("prometheus", "promtool"):
        require_tool(tool)
    findings = by_name(doctor.prometheus_findings())
    for tool in ("prometheus", "promtool"):
        assert findings[tool].ok
        assert findings[tool].detail.endswith(f"/{tool}")
