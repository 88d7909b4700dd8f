"""The registry's alerting and recording rules: promtool checks them and runs their unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.prometheus_tools import promtool

HERE = Path(__file__).resolve().parent
RULES = HERE.parent.parent / "manifests" / "monitoring" / "registry-rules.yml"
RULE_TESTS = HERE / "registry-rules.test.yml"
REQUIRED_ALERTS = {
    "McpRegistryDown",
    "McpRegistryAbsent",
    "McpRegistryNoLeader",
    "McpRegistryMultipleLeaders",
    "McpRegistryErrorRatioHigh",
    "McpRegistryHeartbeatSlow",
    "McpRegistryUnhealthyAgentsRising",
}


def alert_names(rules_text: str) -> set[str]:
    groups = yaml.safe_load(rules_text)["groups"]
    return {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}


def test_the_rules_pass_promtool_check_rules() -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def test_every_required_alert_exists() -> None:
    assert alert_names(RULES.read_text()) >= REQUIRED_ALERTS


def test_every_alert_has_a_firing_and_a_not_firing_case() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    assert firing >= REQUIRED_ALERTS, f"never shown firing: {REQUIRED_ALERTS - firing}"
    assert quiet >= REQUIRED_ALERTS, f"never shown quiet: {REQUIRED_ALERTS - quiet}"


def test_the_rule_unit_tests_pass() -> None:
    tested = promtool("test", "rules", str(RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


@pytest.mark.parametrize(
    ("original", "broken"),
    [
        ("mcp_registry:request_errors:ratio_rate5m > 0.05", "mcp_registry:request_errors:ratio_rate5m > 0.5"),
        ("mcp_registry:leaders:sum > 1\n        for: 30s", "mcp_registry:leaders:sum > 1\n        for: 5s"),
        ('status=~"5.."', 'status=~"4.."'),
        ('and on (instance) (mcp_registry_leader_election_enabled{job="mcp-registry"} == 1))', ")"),
    ],
    ids=["error-threshold", "split-brain-for", "error-status", "leaders-without-election"],
)
def test_the_unit_tests_catch_a_changed_rule(original: str, broken: str, tmp_path: Path) -> None:
    text = RULES.read_text()
    assert original in text
    (tmp_path / "rules.yml").write_text(text.replace(original, broken))
    cases = yaml.safe_load(RULE_TESTS.read_text())
    cases["rule_files"] = ["rules.yml"]
    (tmp_path / "rules.test.yml").write_text(yaml.safe_dump(cases, sort_keys=False))
    tested = promtool("test", "rules", str(tmp_path / "rules.test.yml"))
    assert tested.returncode != 0, "the unit tests passed on a broken rule"
    assert "FAILED" in tested.stdout + tested.stderr
