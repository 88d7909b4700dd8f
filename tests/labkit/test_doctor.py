"""``labkit doctor``'s host checks: what the local node takes from this machine, each with its fix."""

from __future__ import annotations

import pytest

from labkit import doctor


def by_name(findings: list[doctor.Finding]) -> dict[str, doctor.Finding]:
    return {f.name.split(" (")[0]: f for f in findings}


def test_a_missing_tool_and_no_root_are_findings_with_their_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor.os, "geteuid", lambda: 1000)
    real_which = doctor.shutil.which
    monkeypatch.setattr(doctor.shutil, "which", lambda tool: None if tool == "curl" else real_which(tool))
    findings = by_name(doctor.host_findings())
    assert not findings["root"].ok
    assert "uid 1000" in findings["root"].detail
    assert "as root" in findings["root"].fix
    assert not findings["curl"].ok
    assert findings["curl"].fix == "apt-get install curl"
    assert findings["sh"].ok


def test_the_host_is_checked_for_the_local_cluster_only() -> None:
    names = [f.name for f in doctor.run_doctor("no-such-context")]
    assert not any(name.startswith(("root", "PostgreSQL", "curl")) for name in names)
    assert "JupyterLab kernel" in names
