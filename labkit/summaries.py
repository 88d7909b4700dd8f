"""Describe-like summaries of Kubernetes objects (plain dicts) as pandas DataFrames, kubectl-style."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd

POD_COLUMNS = ["name", "phase", "ready", "containers", "restarts", "ip", "node", "reason"]
EVENT_COLUMNS = ["type", "reason", "object", "message", "count", "last_seen"]
TABLE_COLUMNS = ["kind", "name", "ready", "status", "age", "detail"]


def parse_time(value: Any) -> pd.Timestamp | None:
    """A Kubernetes timestamp (RFC 3339 string or datetime) as a UTC pandas Timestamp, or None."""
    if value in (None, ""):
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def age(metadata: dict[str, Any], now: datetime | None = None) -> str:
    """kubectl's AGE column: ``42s``, ``5m``, ``3h``, ``2d``."""
    created = parse_time(metadata.get("creationTimestamp"))
    if created is None:
        return ""
    seconds = int(((now or datetime.now(UTC)) - created.to_pydatetime()).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * (2 if unit != "d" else 1):
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def container_reason(pod: dict[str, Any]) -> str:
    """Why a pod is not running well: a waiting/terminated reason of a container, else the pod's reason."""
    status = pod.get("status") or {}
    for container in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        state = container.get("state") or {}
        for key in ("waiting", "terminated"):
            reason = (state.get(key) or {}).get("reason")
            if reason and reason != "Completed":
                return str(reason)
    if pod.get("metadata", {}).get("deletionTimestamp"):
        return "Terminating"
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return str(condition.get("reason") or "Unschedulable")
    return str(status.get("reason") or "")


def pod_is_ready(pod: dict[str, Any]) -> bool:
    """Whether the pod's Ready condition is True."""
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def pod_row(pod: dict[str, Any]) -> dict[str, Any]:
    """One pod as a row of ``lab.pods()``: ``ready`` is the Ready condition (bool), ``containers`` the
    ready/declared container count as kubectl's READY column shows it."""
    status = pod.get("status") or {}
    containers = status.get("containerStatuses") or []
    declared = len((pod.get("spec") or {}).get("containers") or []) or len(containers)
    ready = sum(1 for c in containers if c.get("ready"))
    return {
        "name": pod["metadata"]["name"],
        "phase": status.get("phase", ""),
        "ready": pod_is_ready(pod),
        "containers": f"{ready}/{declared}",
        "restarts": sum(int(c.get("restartCount") or 0) for c in containers),
        "ip": status.get("podIP") or "",
        "node": (pod.get("spec") or {}).get("nodeName") or "",
        "reason": container_reason(pod),
    }


def pods_frame(pods: list[dict[str, Any]]) -> pd.DataFrame:
    """Pods as a DataFrame with POD_COLUMNS, sorted by name."""
    rows = sorted((pod_row(p) for p in pods), key=lambda r: r["name"])
    return pd.DataFrame(rows, columns=POD_COLUMNS)


def event_row(event: dict[str, Any]) -> dict[str, Any]:
    """One core/v1 Event as a row of ``lab.events()``."""
    involved = event.get("involvedObject") or {}
    last_seen = (
        event.get("lastTimestamp")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or (event.get("metadata") or {}).get("creationTimestamp")
    )
    return {
        "type": event.get("type", ""),
        "reason": event.get("reason", ""),
        "object": f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
        "message": (event.get("message") or "").strip(),
        "count": int(event.get("count") or 1),
        "last_seen": parse_time(last_seen),
    }


def events_frame(events: list[dict[str, Any]]) -> pd.DataFrame:
    """Events as a DataFrame with EVENT_COLUMNS, oldest first."""
    frame = pd.DataFrame([event_row(e) for e in events], columns=EVENT_COLUMNS)
    if frame.empty:
        return frame
    frame["last_seen"] = pd.to_datetime(frame["last_seen"], utc=True)
    return frame.sort_values("last_seen", kind="stable", na_position="first").reset_index(drop=True)


def object_row(obj: dict[str, Any]) -> dict[str, Any]:
    """One object as a row of ``lab.table()``: a READY count and STATUS where the kind has them."""
    kind = obj.get("kind", "")
    spec, status, metadata = obj.get("spec") or {}, obj.get("status") or {}, obj.get("metadata") or {}
    ready, state, detail = "", "", ""
    if kind in ("StatefulSet", "Deployment", "ReplicaSet"):
        ready = f"{int(status.get('readyReplicas') or 0)}/{int(spec.get('replicas') or 0)}"
        detail = ",".join(
            c.get("image", "") for c in spec.get("template", {}).get("spec", {}).get("containers", [])
        )
    elif kind == "Pod":
        row = pod_row(obj)
        ready, state, detail = row["containers"], row["reason"] or row["phase"], row["ip"]
    elif kind == "Service":
        state = spec.get("type", "ClusterIP")
        ports = ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or [])
        detail = f"{spec.get('clusterIP', '')} {ports}".strip()
    elif kind in ("PersistentVolumeClaim", "PersistentVolume"):
        state = status.get("phase", "")
        capacity = (status.get("capacity") or spec.get("capacity") or {}).get("storage", "")
        detail = f"{spec.get('volumeName') or spec.get('claimRef', {}).get('name', '')} {capacity} "
        detail = (detail + str(spec.get("storageClassName") or "")).strip()
    else:
        state = str(status.get("phase") or "")
    return {
        "kind": str(kind).lower(),
        "name": metadata.get("name", ""),
        "ready": ready,
        "status": state,
        "age": age(metadata),
        "detail": detail,
    }


def objects_frame(objects: list[dict[str, Any]]) -> pd.DataFrame:
    """Objects of several kinds as one DataFrame with TABLE_COLUMNS (kinds in the order given)."""
    return pd.DataFrame([object_row(o) for o in objects], columns=TABLE_COLUMNS)


def storage_classes_frame(classes: list[dict[str, Any]]) -> pd.DataFrame:
    """StorageClasses: name, provisioner, default, reclaim_policy, binding_mode."""
    default_keys = (
        "storageclass.kubernetes.io/is-default-class",
        "storageclass.beta.kubernetes.io/is-default-class",
    )
    rows = [
        {
            "name": sc["metadata"]["name"],
            "provisioner": sc.get("provisioner", ""),
            "default": any(
                (sc["metadata"].get("annotations") or {}).get(key) == "true" for key in default_keys
            ),
            "reclaim_policy": sc.get("reclaimPolicy", "Delete"),
            "binding_mode": sc.get("volumeBindingMode", "Immediate"),
        }
        for sc in classes
    ]
    return pd.DataFrame(rows, columns=["name", "provisioner", "default", "reclaim_policy", "binding_mode"])


def condition_holds(obj: dict[str, Any], condition: str) -> bool:
    """Whether status.conditions has ``condition`` True, or status.phase equals it (case-insensitive)."""
    status = obj.get("status") or {}
    wanted = condition.lower()
    if str(status.get("phase", "")).lower() == wanted:
        return True
    return any(
        str(c.get("type", "")).lower() == wanted and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def rollout_state(obj: dict[str, Any]) -> tuple[bool, str]:
    """Whether a StatefulSet/Deployment/DaemonSet rollout is complete, and a short progress text."""
    kind, spec, status = obj.get("kind"), obj.get("spec") or {}, obj.get("status") or {}
    generation = int((obj.get("metadata") or {}).get("generation") or 0)
    observed = int(status.get("observedGeneration") or 0)
    if kind == "DaemonSet":
        desired = int(status.get("desiredNumberScheduled") or 0)
        ready = int(status.get("numberReady") or 0)
        updated = int(status.get("updatedNumberScheduled") or 0)
        done = observed >= generation and ready == desired and updated == desired
        return done, f"{ready}/{desired} ready, {updated} updated"
    desired = int(spec["replicas"]) if spec.get("replicas") is not None else 1
    ready = int(status.get("readyReplicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    current = int(status.get("replicas") or 0)
    done = observed >= generation and ready == desired and current == desired
    if kind == "StatefulSet":
        strategy = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate")
        if strategy == "RollingUpdate":
            done = done and status.get("currentRevision") == status.get("updateRevision")
    elif kind == "Deployment":
        available = int(status.get("availableReplicas") or 0)
        done = done and updated == desired and available == desired
    return done, f"{ready}/{desired} ready, {updated} updated"
