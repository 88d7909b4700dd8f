"""Every lesson that passes on the local cluster, run through papermill in order, its records asserted.

The whole lab runs in the guide's namespace ``mcp-mesh`` with every exercise's solution run and its check
passing. Then the lessons up to the first verification, and the cleanup, run again with ``-p namespace
lab-alt`` (as attendees sharing a cluster would), where nothing may land in ``mcp-mesh``, with the
exercises left undone: each check then says "not done yet" with its hint, and the lesson goes on. The
second pass leaves out lessons 04-08, which repeat the same namespace handling with failovers and
databases that took 15 of its 18 minutes on 2 cores. The executed copies are kept
(the folder is printed; set LABKIT_TEST_RUNS_DIR to choose it). A cell error or a cell timeout fails the
test and names the cell. The notebooks reach the session's cluster through its kubeconfig and the context
``labkit``, as ``labkit run --context labkit`` would.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import labkit as lk
from labkit.records import read_records
from tests.notebooks.notebook_files import NOTEBOOKS
from tests.notebooks.papermill_run import execute, runs_dir

GUIDE_NAMESPACE = "mcp-mesh"
OTHER_NAMESPACE = "lab-alt"
CELL_TIMEOUT = 420  # seconds; the slowest cells wait on rollouts and agents with their own shorter timeouts
Records = dict[str, Any]


def prerequisites(r: Records) -> None:
    assert r["nodes_ready"] >= 1
    assert r["default_storage_class"] == "standard"
    assert r["lease_rbac_allowed"] is True


def storage(r: Records) -> None:
    assert r["pvc_phase_after_consumer"] == "Bound"
    if r["standard_binding_mode"] == "WaitForFirstConsumer":
        assert r["pvc_phase_before_consumer"] == "Pending"


def statefulset(r: Records) -> None:
    assert r["ready_replicas"] == 1
    assert r["pvc_bound"] is True


def verify(r: Records) -> None:
    assert r["agents_registered"] >= 1
    assert r["debug_steps_in_pod"] == 3
    assert r["data_survived_restart"] is True
    assert r["mesh_dependency_resolved"] is True
    assert 0 < r["provider_unhealthy_seconds"] < 60


def high_availability(r: Records) -> None:
    assert r["ha_pods_running"] == 3
    assert r["ha_ready_replicas"] == 1  # SQLite: only the leader serves
    assert r["failover_seconds"] > 0
    assert r["crash_failover_seconds"] > 0
    assert r["agents_back_seconds"] > 0
    assert r["sqlite_restart_stalled"] is True  # followers are never ready: the controller waits
    assert r["sqlite_drain_to_resume_seconds"] > 0
    assert r["sqlite_claims_after_resume"] is True


def pitfalls(r: Records) -> None:
    assert "fast-ssd" in r["pvc_pending_event"]
    assert r["crashloop_message_names_variable"] is True
    assert "ImagePull" in r["image_pull_reason"]
    assert r["oom_reason"] == "OOMKilled"
    assert r["no_rbac_forbidden"] is True
    assert r["anti_affinity_pending"] == 2
    assert r["tight_election_flaps"] >= 1


def load_and_metrics(r: Records) -> None:
    assert r["prometheus_targets_up"] == 1
    assert r["load_requests"] == 100
    assert r["load_success_rate"] == 1.0
    assert r["heartbeat_success_rate"] == 1.0
    assert r["load_p95_ms"] > 0
    assert r["prometheus_counted_registrations"] == 100
    assert 0 < r["heartbeat_registry_p50_ms"] <= r["heartbeat_client_p50_ms"]
    assert r["agents_total_metric"] >= 100
    assert 0 <= r["no_leader_seconds"] <= 60  # a quick failover can fall between two 5-s scrapes
    assert set(r["no_leader_alert_states"]) <= {"pending", "firing"}


def production_postgres(r: Records) -> None:
    assert r["postgres_ready_replicas"] == 3
    assert r["postgres_index_created"] is True
    assert r["shared_agent_seen_by"] == 3
    assert r["postgres_running_job_survived"] is True
    assert r["postgres_queued_job_completed"] is True
    assert r["postgres_restart_seconds"] > 0


def backup_restore(r: Records) -> None:
    assert r["backup_bytes"] > 0
    assert r["restored_agents"] >= 5
    assert r["backup_restored_identical"] is True


def cleanup(r: Records) -> None:
    assert r["objects_left"] == 0


def exercises(records: Records, solved: bool) -> None:
    """Solved: every exercise done. Untouched: every one "not done yet", with the hint it printed."""
    outcomes = {name: value for name, value in records.items() if name.startswith("exercise_")}
    assert outcomes, "every lesson has an exercise"
    for name, outcome in outcomes.items():
        assert outcome["done"] is solved, (name, outcome)
        if not solved:
            assert " — " in outcome["hint"], (name, outcome)  # what was checked — the hint


# In lab order: the whole lab.
LESSONS: list[tuple[str, Callable[[Records], None]]] = [
    ("00-prerequisites", prerequisites),
    ("01-storage", storage),
    ("02-statefulset", statefulset),
    ("03-verify", verify),
    ("04-high-availability", high_availability),
    ("05-pitfalls", pitfalls),
    ("06-load-and-metrics", load_and_metrics),
    ("07-production-postgres", production_postgres),
    ("08-backup-restore", backup_restore),
    ("99-cleanup", cleanup),
]


@pytest.fixture(scope="module")
def executed_dir() -> Path:
    path = runs_dir()
    print(f"\nexecuted notebooks are kept in {path}")
    return path


# The whole lab in the guide's namespace, then its first lessons and the cleanup in another one.
OTHER_NAMESPACE_LESSONS = ("00-prerequisites", "01-storage", "02-statefulset", "03-verify", "99-cleanup")
RUNS = [(GUIDE_NAMESPACE, lesson, expect) for lesson, expect in LESSONS] + [
    (OTHER_NAMESPACE, lesson, expect) for lesson, expect in LESSONS if lesson in OTHER_NAMESPACE_LESSONS
]
RUN_IDS = [f"{ns}-{lesson}" for ns, lesson, _ in RUNS]


@pytest.mark.notebooks
@pytest.mark.timeout(1200)
@pytest.mark.parametrize(("namespace", "lesson", "expect"), RUNS, ids=RUN_IDS)
def test_lesson_runs_on_the_local_cluster(
    namespace: str,
    lesson: str,
    expect: Callable[[Records], None],
    local_cluster: Any,
    executed_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(local_cluster.kubeconfig_path))
    lab = lk.connect(local_cluster, namespace=namespace, progress=False)
    guide_namespace_before = lab.namespace_exists(GUIDE_NAMESPACE)
    solved = namespace == GUIDE_NAMESPACE
    output = execute(
        NOTEBOOKS / f"{lesson}.ipynb",
        executed_dir / namespace,
        {"cluster": "labkit", "namespace": namespace, "solutions": solved},
        CELL_TIMEOUT,
    )
    records = read_records(output)
    print(f"{namespace} {lesson}: {records}")
    expect(records)
    exercises(records, solved)
    if namespace != GUIDE_NAMESPACE and not guide_namespace_before:
        assert not lab.namespace_exists(GUIDE_NAMESPACE), f"{lesson} in {namespace} created {GUIDE_NAMESPACE}"
