"""The real ``meshctl`` against our registry and against the Go one, side by side, with real agents.

Each registry gets the same four real agents (a provider and a consumer of ``greeting``, and a
``task=True`` provider and its consumer) and the same timings. Every command is run against both and
the outputs are compared line by line, with ids, ports and times replaced by placeholders; the
commands must also show the agents (meshctl prints "No agents found", exit 0, when it cannot decode a
registry's times).
"""

from __future__ import annotations

import difflib
import re
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from labkit.agents import MeshAgent
from tests.compat.agent_processes import start_serving_agent, wait_for
from tests.compat.go_registry import GoRegistryUnavailable, meshctl_binary, run_go_registry
from tests.compat.meshctl import MeshctlRun, run_meshctl
from tests.conftest import running_in_ci
from tests.processes import RunningProcess, run_registry

pytestmark = [pytest.mark.agents, pytest.mark.gocompat, pytest.mark.timeout(600)]

AGENT_SCRIPTS = ("greeter", "assistant", "counter", "dispatcher")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
PROGRESS = re.compile(r"(?m)^(Progress:|Message:).*$")


@dataclass
class Mesh:
    """One registry with its agents."""

    name: str
    registry: RunningProcess
    agents: dict[str, MeshAgent]

    def agents_listed(self) -> list[dict[str, Any]]:
        response = httpx.get(self.registry.url + "/agents", timeout=10)
        response.raise_for_status()
        return list(response.json().get("agents") or [])

    def job(self, job_id: str) -> dict[str, Any]:
        response = httpx.get(f"{self.registry.url}/jobs/{job_id}", timeout=10)
        response.raise_for_status()
        return dict(response.json())


@dataclass
class MeshPair:
    """Ours and Go's, and the meshctl that talks to both."""

    ours: Mesh
    go: Mesh
    meshctl: Path
    home: Path

    def run(self, mesh: Mesh, *args: str) -> MeshctlRun:
        return run_meshctl(self.meshctl, mesh.registry.url, self.home, *args)

    def both(self, *args: str) -> tuple[MeshctlRun, MeshctlRun]:
        return self.run(self.ours, *args), self.run(self.go, *args)


def assert_same(ours: MeshctlRun, go: MeshctlRun, normalise: Callable[[list[str]], list[str]] = list) -> None:
    """The same exit status and the same output, placeholders aside."""
    left, right = normalise(ours.normalised()), normalise(go.normalised())
    diff = "\n".join(difflib.unified_diff(right, left, "go", "ours", lineterm=""))
    assert ours.returncode == go.returncode, (
        f"meshctl {' '.join(ours.args)}: exit {ours.returncode} (ours) vs {go.returncode} (go)\n"
        f"ours:\n{ours.output[-2000:]}\ngo:\n{go.output[-2000:]}"
    )
    assert left == right, f"meshctl {' '.join(ours.args)} differs (- go, + ours):\n{diff}"


def mesh_is_wired(mesh: Mesh) -> bool:
    """All four agents healthy, each consumer's dependencies resolved."""
    listed = {agent["name"]: agent for agent in mesh.agents_listed() if agent["status"] == "healthy"}
    if set(listed) != set(AGENT_SCRIPTS):
        return False
    return (
        listed["assistant"]["dependencies_resolved"] == 1
        and listed["dispatcher"]["dependencies_resolved"] == 2
    )


@pytest.fixture(scope="module")
def meshctl() -> Path:
    try:
        return meshctl_binary()
    except GoRegistryUnavailable as exc:
        if running_in_ci():
            pytest.fail(f"meshctl is needed under CI=true: {exc}")
        pytest.skip(f"meshctl is not available: {exc}")


def start_mesh(stack: ExitStack, name: str, registry: RunningProcess, workdir: Path) -> Mesh:
    agents = {
        script: stack.enter_context(start_serving_agent(script, registry.url, workdir))
        for script in AGENT_SCRIPTS
    }
    return Mesh(name, registry, agents)


@pytest.fixture(scope="module")
def meshes(
    go_registry_bin: Path, meshctl: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MeshPair]:
    """Both registries with the Go registry's default timings, and four real agents on each."""
    ours_dir, go_dir = tmp_path_factory.mktemp("ours"), tmp_path_factory.mktemp("go")
    with ExitStack() as stack:
        ours_registry = stack.enter_context(
            run_registry(ours_dir, {"AGENT_TIMEOUT": "20s", "HEALTH_CHECK_INTERVAL": "10s"})
        )
        go_registry = stack.enter_context(run_go_registry(go_dir))
        pair = MeshPair(
            ours=start_mesh(stack, "ours", ours_registry, ours_dir),
            go=start_mesh(stack, "go", go_registry, go_dir),
            meshctl=meshctl,
            home=tmp_path_factory.mktemp("home"),
        )
        for mesh in (pair.ours, pair.go):
            wait_for(
                lambda mesh=mesh: mesh_is_wired(mesh),  # type: ignore[misc]
                timeout=120,
                interval=1,
                what=f"the four agents to be wired on {mesh.name}",
                describe=lambda mesh=mesh: str(  # type: ignore[misc]
                    [(a["name"], a["status"], a["dependencies_resolved"]) for a in mesh.agents_listed()]
                ),
            )
        yield pair


@pytest.mark.parametrize(
    "args",
    [
        ("list",),
        ("list", "--json"),
        ("list", "--tools"),
        ("list", "--tools=greet"),
        ("list", "--all"),
        ("list", "--wide"),
        ("status",),
        ("status", "--json"),
        ("audit", "assistant"),
        ("audit", "assistant", "--json"),
        ("registry", "status"),
        ("registry", "status", "--json"),
        ("trace", "0123456789abcdef0123456789abcdef", "--retries", "0"),
    ],
    ids=lambda args: " ".join(args),
)
def test_reading_commands_show_the_same_as_against_go(meshes: MeshPair, args: tuple[str, ...]) -> None:
    ours, go = meshes.both(*args)
    assert_same(ours, go)
    assert "No agents found" not in ours.output


def test_list_names_every_agent_of_ours(meshes: MeshPair) -> None:
    """What meshctl lists is what runs: its Go decoder dropped none of our agents."""
    run = meshes.run(meshes.ours, "list")
    for agent in meshes.ours.agents_listed():
        assert agent["id"] in run.output, f"{agent['id']} missing from meshctl list:\n{run.output}"


def test_status_of_one_agent(meshes: MeshPair) -> None:
    ours_id = next(a["id"] for a in meshes.ours.agents_listed() if a["name"] == "assistant")
    go_id = next(a["id"] for a in meshes.go.agents_listed() if a["name"] == "assistant")
    assert_same(meshes.run(meshes.ours, "status", ours_id), meshes.run(meshes.go, "status", go_id))


def test_schemas_are_the_same_set(meshes: MeshPair) -> None:
    """The same content-addressed schemas, newest first (ties may fall either way)."""
    ours, go = meshes.both("list", "--schemas")
    assert_same(ours, go, normalise=sorted)
    ours_json, go_json = meshes.both("list", "--schemas", "--json")
    assert ours_json.returncode == go_json.returncode == 0
    hashes = sorted(re.findall(r"sha256:[0-9a-f]{64}", ours_json.output))
    assert hashes
    assert hashes == sorted(re.findall(r"sha256:[0-9a-f]{64}", go_json.output))


@pytest.mark.parametrize(
    "args",
    [
        ("call", "greet", '{"name": "lab"}'),
        ("call", "smart_greet", '{"name": "lab"}', "--trace"),
        (
            "call",
            "greet",
            '{"name": "lab"}',
            "-H",
            "X-Trace-ID: 0123456789abcdef",
            "-H",
            "X-Mesh-Timeout: 20",
        ),
        ("call", "run_count", '{"steps": 2, "delay": 0.2}'),
        ("call", "no_such_tool"),
    ],
    ids=lambda args: " ".join(args[:2] + args[3:4]),
)
def test_call_goes_through_the_proxy_as_with_go(meshes: MeshPair, args: tuple[str, ...]) -> None:
    ours, go = meshes.both(*args)
    assert_same(ours, go)
    if args[1] != "no_such_tool":
        assert ours.returncode == 0
        assert "Hello from greeter, lab!" in ours.output or '\\"counted\\": 2' in ours.output


def started_job(meshes: MeshPair, mesh: Mesh, steps: int, delay: float) -> str:
    """Submit a ``slow_count`` MeshJob through the consumer (``meshctl call start_count``); its id."""
    run = meshes.run(mesh, "call", "start_count", f'{{"steps": {steps}, "delay": {delay}}}')
    found = UUID.search(run.output)
    assert run.returncode == 0, f"start_count on {mesh.name} failed:\n{run.output}"
    assert found, f"start_count on {mesh.name} printed no job id:\n{run.output}"
    return found.group(0)


def without_progress(lines: list[str]) -> list[str]:
    return [PROGRESS.sub(r"\1 <progress>", line) for line in lines]


def test_drain_stops_claims_and_resume_lets_the_job_run(meshes: MeshPair) -> None:
    assert_same(*meshes.both("registry", "drain"))
    assert_same(*meshes.both("registry", "status"))
    jobs = {mesh.name: started_job(meshes, mesh, steps=2, delay=0.1) for mesh in (meshes.ours, meshes.go)}
    time.sleep(4)  # the provider polls for claims every 0.5 to 5 s: long enough for a claim to land
    for mesh in (meshes.ours, meshes.go):
        job = mesh.job(jobs[mesh.name])
        assert (job["owner_instance_id"], job["attempt_count"], job["status"]) == (None, 0, "working"), job
    assert_same(
        meshes.run(meshes.ours, "job", "status", jobs["ours"]),
        meshes.run(meshes.go, "job", "status", jobs["go"]),
    )
    assert_same(*meshes.both("registry", "resume"))
    for mesh in (meshes.ours, meshes.go):
        wait_for(
            lambda mesh=mesh: mesh.job(jobs[mesh.name])["status"] == "completed",  # type: ignore[misc]
            timeout=30,
            what=f"the drained job to complete after resume on {mesh.name}",
            describe=lambda mesh=mesh: str(mesh.job(jobs[mesh.name])),  # type: ignore[misc]
        )
    assert_same(
        meshes.run(meshes.ours, "job", "status", jobs["ours"]),
        meshes.run(meshes.go, "job", "status", jobs["go"]),
    )


def test_job_status_and_reclaim_as_with_go(meshes: MeshPair) -> None:
    jobs = {mesh.name: started_job(meshes, mesh, steps=400, delay=0.25) for mesh in (meshes.ours, meshes.go)}
    for mesh in (meshes.ours, meshes.go):
        wait_for(
            lambda mesh=mesh: (mesh.job(jobs[mesh.name])["progress"] or 0) > 0,  # type: ignore[misc]
            timeout=30,
            what=f"the job to report progress on {mesh.name}",
        )
    ours, go = (
        meshes.run(meshes.ours, "job", "status", jobs["ours"]),
        meshes.run(meshes.go, "job", "status", jobs["go"]),
    )
    assert_same(ours, go, normalise=without_progress)
    ours, go = (
        meshes.run(meshes.ours, "job", "reclaim", jobs["ours"]),
        meshes.run(meshes.go, "job", "reclaim", jobs["go"]),
    )
    assert_same(ours, go)
    for mesh in (meshes.ours, meshes.go):  # the next claim mints epoch 2 and fences the first execution
        wait_for(
            lambda mesh=mesh: mesh.job(jobs[mesh.name])["claim_epoch"] == 2,  # type: ignore[misc]
            timeout=30,
            what=f"the reclaimed job to be claimed again on {mesh.name}",
            describe=lambda mesh=mesh: str(mesh.job(jobs[mesh.name])),  # type: ignore[misc]
        )
        httpx.post(
            f"{mesh.registry.url}/jobs/{jobs[mesh.name]}/cancel", json={"reason": "test over"}, timeout=10
        )
    ours, go = (
        meshes.run(meshes.ours, "job", "status", jobs["ours"]),
        meshes.run(meshes.go, "job", "status", jobs["go"]),
    )
    assert_same(ours, go, normalise=without_progress)
    assert_same(*meshes.both("job", "status", "00000000-0000-0000-0000-000000000000"))
    assert_same(*meshes.both("job", "reclaim", "00000000-0000-0000-0000-000000000000"))


def test_registry_drain_with_auth_token_set_needs_it_in_the_url(meshctl: Path, tmp_path: Path) -> None:
    """With AUTH_TOKEN set, meshctl reaches /admin/drain with the token as a URL's basic-auth password."""
    with run_registry(tmp_path, {"AUTH_TOKEN": "s3cret"}) as registry:
        refused = run_meshctl(meshctl, registry.url, tmp_path, "registry", "drain")
        assert refused.returncode == 1
        assert "401" in refused.output
        assert (
            httpx.get(registry.url + "/admin/drain", auth=("admin", "s3cret"), timeout=10).json()["draining"]
            is False
        )
        with_token = registry.url.replace("http://", "http://admin:s3cret@")
        drained = run_meshctl(meshctl, with_token, tmp_path, "registry", "drain")
        assert drained.returncode == 0, drained.output
        assert "draining" in drained.output
        assert (
            httpx.get(registry.url + "/admin/drain", auth=("admin", "s3cret"), timeout=10).json()["draining"]
            is True
        )
