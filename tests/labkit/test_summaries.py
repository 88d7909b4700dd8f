"""kubectl-style summaries of plain object dicts."""

from __future__ import annotations

from typing import Any

from labkit import summaries


def pod(name: str, ready: bool, waiting: str | None = None, restarts: int = 0) -> dict[str, Any]:
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    return {
        "kind": "Pod",
        "metadata": {"name": name, "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"nodeName": "labkit-node", "containers": [{"name": "c"}]},
        "status": {
            "phase": "Running" if ready else "Pending",
            "podIP": "127.244.0.2",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"ready": ready, "restartCount": restarts, "state": state}],
        },
    }


def test_pods_frame_has_a_boolean_ready_and_kubectls_container_count() -> None:
    frame = summaries.pods_frame([pod("b", False, "CrashLoopBackOff", 4), pod("a", True)])
    assert list(frame.columns) == summaries.POD_COLUMNS
    assert frame.values.tolist() == [
        ["a", "Running", True, "1/1", 0, "127.244.0.2", "labkit-node", ""],
        ["b", "Pending", False, "0/1", 4, "127.244.0.2", "labkit-node", "CrashLoopBackOff"],
    ]
    assert frame["ready"].any()
    assert not frame["ready"].all()


def test_events_frame_is_sorted_oldest_first_and_names_the_object() -> None:
    events: list[dict[str, Any]] = [
        {
            "type": "Warning",
            "reason": "BackOff",
            "message": "back-off ",
            "count": 3,
            "lastTimestamp": "2026-01-01T00:00:09Z",
            "involvedObject": {"kind": "Pod", "name": "p"},
        },
        {
            "type": "Normal",
            "reason": "Scheduled",
            "message": "assigned",
            "eventTime": "2026-01-01T00:00:01.5Z",
            "involvedObject": {"kind": "Pod", "name": "p"},
        },
    ]
    frame = summaries.events_frame(events)
    assert frame[["type", "reason", "object", "message", "count"]].values.tolist() == [
        ["Normal", "Scheduled", "pod/p", "assigned", 1],
        ["Warning", "BackOff", "pod/p", "back-off", 3],
    ]


def test_rollout_state_of_a_statefulset() -> None:
    sts: dict[str, Any] = {
        "kind": "StatefulSet",
        "metadata": {"generation": 2},
        "spec": {"replicas": 3},
        "status": {
            "observedGeneration": 2,
            "replicas": 3,
            "readyReplicas": 2,
            "updatedReplicas": 3,
            "currentRevision": "a",
            "updateRevision": "a",
        },
    }
    assert summaries.rollout_state(sts) == (False, "2/3 ready, 3 updated")
    sts["status"]["readyReplicas"] = 3
    assert summaries.rollout_state(sts)[0]
    sts["status"]["updateRevision"] = "b"
    assert not summaries.rollout_state(sts)[0]
    sts["status"]["observedGeneration"] = 1
    sts["status"]["updateRevision"] = "a"
    assert not summaries.rollout_state(sts)[0]


def test_condition_holds_for_conditions_and_phases() -> None:
    claim = {"status": {"phase": "Bound"}}
    assert summaries.condition_holds(claim, "Bound")
    assert summaries.condition_holds(pod("a", True), "ready")
    assert not summaries.condition_holds(pod("a", False), "Ready")


def test_storage_classes_frame_marks_the_default() -> None:
    classes = [
        {
            "metadata": {
                "name": "standard",
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "kubernetes.io/host-path",
            "volumeBindingMode": "WaitForFirstConsumer",
        },
        {"metadata": {"name": "slow"}, "provisioner": "x"},
    ]
    frame = summaries.storage_classes_frame(classes)
    assert frame.query("default")["name"].tolist() == ["standard"]
    assert frame["binding_mode"].tolist() == ["WaitForFirstConsumer", "Immediate"]
