"""The kind workflow cannot run here; this keeps it correct by construction: structure, pins, scripts."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "lab-on-kind.yml"
EXPRESSION = re.compile(r"\$\{\{.*?\}\}")


def workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


def steps() -> list[dict[str, Any]]:
    return list(workflow()["jobs"]["lab"]["steps"])


def step(name_part: str) -> dict[str, Any]:
    found = [s for s in steps() if name_part in s.get("name", "")]
    assert len(found) == 1, f"one step named like {name_part!r}: {[s.get('name') for s in steps()]}"
    return found[0]


def test_triggers_permissions_and_time_limit() -> None:
    data = workflow()
    triggers = data["on"] if "on" in data else data[True]  # YAML 1.1 reads a bare `on` as true
    assert {"push", "pull_request", "workflow_dispatch"} <= set(triggers)
    assert data["permissions"] == {"contents": "read"}
    assert 0 < data["jobs"]["lab"]["timeout-minutes"] <= 90


def test_every_step_is_named_and_every_action_pinned_to_a_commit() -> None:
    for s in steps():
        assert s.get("name"), s
        assert ("uses" in s) != ("run" in s), s
        if "uses" in s:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", s["uses"]), s["uses"]
    for line in WORKFLOW.read_text().splitlines():
        if "uses:" in line:
            assert re.search(r"@[0-9a-f]{40}  # v\d+(\.\d+)*$", line), f"no version comment: {line}"


def test_the_checkout_keeps_no_credentials() -> None:
    checkout = step("Check out")
    assert checkout["with"]["persist-credentials"] is False


def test_zizmor_finds_nothing() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "zizmor"), "--offline", "--no-progress", str(WORKFLOW)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout + result.stderr


def test_the_image_is_built_loaded_and_used_with_one_unique_tag() -> None:
    image = workflow()["env"]["REGISTRY_IMAGE"]
    assert image.startswith("mcp-mesh/registry:")
    assert "github.run_id" in image
    assert "github.run_attempt" in image
    assert "registry/Dockerfile" in step("Build")["run"]
    assert '--tag "$REGISTRY_IMAGE"' in step("Build")["run"]
    assert 'kind load docker-image "$REGISTRY_IMAGE"' in step("Load")["run"]
    assert "rollout status statefulset/mcp-mesh-registry" in step("rollout")["run"]
    assert '-p image "$REGISTRY_IMAGE"' in step("Run the lab")["run"]


def test_the_notebooks_run_against_the_kind_context() -> None:
    kind = step("kind cluster")
    assert kind["uses"].startswith("helm/kind-action@")
    assert kind["with"]["cluster_name"] == "${{ env.KIND_CLUSTER }}"
    assert 'labkit run --context "kind-$KIND_CLUSTER"' in step("Run the lab")["run"]


def test_state_is_dumped_and_notebooks_uploaded_on_failure() -> None:
    dump, upload = step("Dump"), step("Upload")
    assert dump["if"] == "failure()"
    assert upload["if"] == "failure()"
    for command in ("kubectl get all", "describe", "logs", "--previous", "get events"):
        assert command in dump["run"], command
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert "env.RUNS_DIR" in upload["with"]["path"]
    assert "env.DUMP_DIR" in upload["with"]["path"]
    assert workflow()["env"]["RUNS_DIR"] == "runs"


@pytest.mark.parametrize("name", [s["name"] for s in steps() if "run" in s])
def test_every_run_script_is_valid_bash(name: str) -> None:
    script = EXPRESSION.sub("x", step(name)["run"])
    bash = shutil.which("bash")
    assert bash is not None
    result = subprocess.run([bash, "-n", "-c", script], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
