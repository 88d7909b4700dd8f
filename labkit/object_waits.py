"""Waiting on the cluster's objects: a rollout, an object's condition, every pod of a selector.

The Lab's ``wait_for`` and ``wait_rollout`` call these; on a timeout the error carries an account of the
namespace (pods and newest events), so a learner sees why the wait did not end.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from labkit import summaries
from labkit.errors import BadParameter, LabError, require_type
from labkit.waiting import check_timeout, poll

if TYPE_CHECKING:
    from labkit.lab import Lab

WORKLOAD_KINDS = ("StatefulSet", "Deployment", "ReplicaSet", "DaemonSet")
DELETE_CONDITIONS = ("delete", "deleted")

Condition = str | Callable[[dict[str, Any]], bool]


def wait_rollout(lab: Lab, ref: str, timeout: float = 180, progress: bool = True) -> None:
    """Wait until a StatefulSet/Deployment/DaemonSet rollout is complete (``kubectl rollout status``)."""
    check_timeout(timeout)
    resource, parsed, ns = lab._resolve(ref)
    if resource.kind not in WORKLOAD_KINDS:
        raise BadParameter(f"wait_rollout needs a statefulset, deployment or daemonset, not {ref!r}")

    def probe() -> tuple[bool, str]:
        obj = lab.kube.find(resource, parsed.name, ns)
        return summaries.rollout_state(obj) if obj is not None else (False, f"{parsed} does not exist")

    selector = workload_selector(lab, resource, parsed.name, ns)
    poll(
        probe,
        f"rollout of {parsed}",
        timeout,
        progress=progress,
        describe_failure=lambda: account(lab, selector),
    )


def wait_for(
    lab: Lab,
    ref_or_selector: str | Callable[[], Any],
    condition: Condition = "Ready",
    timeout: float = 120,
    *,
    fail_on: Sequence[str] = (),
    progress: bool = True,
) -> None:
    """Wait until an object, every pod of a label selector, or a callable meets the condition."""
    check_timeout(timeout)
    if callable(ref_or_selector):
        fn = ref_or_selector
        name = condition_name(fn)

        def call_probe() -> tuple[bool, str]:
            value = fn()
            return bool(value), f"{name} returned {value!r}"

        poll(
            call_probe,
            name,
            timeout,
            progress=progress,
            describe_failure=lambda: account(lab, None),
        )
        return
    require_type("ref_or_selector", ref_or_selector, str)
    assert isinstance(ref_or_selector, str)
    if not (isinstance(condition, str) or callable(condition)):
        raise BadParameter(f"condition must be a string or a callable, not {condition!r}")
    if "=" in ref_or_selector:
        wait_selector(lab, ref_or_selector, condition, timeout, fail_on, progress)
    else:
        wait_object(lab, ref_or_selector, condition, timeout, fail_on, progress)


def wait_selector(
    lab: Lab, selector: str, condition: Condition, timeout: float, fail_on: Sequence[str], progress: bool
) -> None:
    """Wait until every pod of the selector meets the condition (or, for "delete", none is left)."""
    deleting = isinstance(condition, str) and condition.lower() in DELETE_CONDITIONS

    def probe() -> tuple[bool, str]:
        pods = lab.list_objects("pod", selector)
        if deleting:
            return not pods, f"{len(pods)} pods left"
        fail_fast(pods, fail_on)
        met = [p for p in pods if holds(p, condition)]
        return bool(pods) and len(met) == len(pods), f"{len(met)}/{len(pods)} pods {describe(condition)}"

    what = f"pods with {selector} to be {describe(condition)}"
    poll(probe, what, timeout, progress=progress, describe_failure=lambda: account(lab, selector))


def wait_object(
    lab: Lab, ref: str, condition: Condition, timeout: float, fail_on: Sequence[str], progress: bool
) -> None:
    """Wait until one object meets the condition; for a workload, "Ready" means its rollout is done."""
    resource, parsed, ns = lab._resolve(ref)
    deleting = isinstance(condition, str) and condition.lower() in DELETE_CONDITIONS

    def probe() -> tuple[bool, str]:
        obj = lab.kube.find(resource, parsed.name, ns)
        if obj is None:
            return deleting, f"{parsed} does not exist"
        if deleting:
            return False, f"{parsed} still exists"
        if resource.kind == "Pod":
            fail_fast([obj], fail_on)
            state = summaries.container_reason(obj) or (obj.get("status") or {}).get("phase", "")
        else:
            state = str((obj.get("status") or {}).get("phase") or "")
        if resource.kind in WORKLOAD_KINDS and condition == "Ready":
            done, text = summaries.rollout_state(obj)
            return done, text
        return holds(obj, condition), state or "present"

    selector = workload_selector(lab, resource, parsed.name, ns) if resource.kind in WORKLOAD_KINDS else None
    pod_selector = (
        selector if selector else (f"metadata.name={parsed.name}" if resource.kind == "Pod" else None)
    )
    poll(
        probe,
        f"{parsed} to be {describe(condition)}",
        timeout,
        progress=progress,
        describe_failure=lambda: account(lab, pod_selector),
    )


def holds(obj: dict[str, Any], condition: Condition) -> bool:
    """Whether an object meets a condition type, a phase, or a callable."""
    if callable(condition):
        return bool(condition(obj))
    return summaries.condition_holds(obj, condition)


def fail_fast(pods: list[dict[str, Any]], fail_on: Sequence[str]) -> None:
    """End a wait at once when a pod is in one of the given reasons (``CrashLoopBackOff``)."""
    for pod in pods:
        reason = summaries.container_reason(pod)
        if reason and reason in fail_on:
            raise LabError(f"pod/{pod['metadata']['name']} is {reason}: see lab.logs() and lab.events()")


def workload_selector(lab: Lab, resource: Any, name: str, namespace: str | None) -> str | None:
    """A workload's pod selector as ``k=v,...``, or None when it does not exist."""
    obj = lab.kube.find(resource, name, namespace)
    if obj is None:
        return None
    labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in labels.items()) or None


def account(lab: Lab, selector: str | None) -> str:
    """What the namespace looks like now: its pods (matching selector) and the newest events (of
    those pods when there are any)."""
    if selector and selector.startswith("metadata.name="):
        pods = [p for p in lab.list_objects("pod") if p["metadata"]["name"] == selector.split("=", 1)[1]]
    else:
        pods = lab.list_objects("pod", selector)
    pod_text = ", ".join(
        f"pod/{r['name']} {r['phase']} {r['containers']}" + (f" ({r['reason']})" if r["reason"] else "")
        for r in (summaries.pod_row(p) for p in pods[:6])
    )
    events = summaries.events_frame(lab.kube.list(lab.kube.resource("v1", "Event"), lab.namespace))
    related = events[events["object"].isin({f"pod/{p['metadata']['name']}" for p in pods})]
    newest = (related if selector and not related.empty else events).tail(3)
    event_text = " | ".join(f"{e.object} {e.reason}: {e.message}" for e in newest.itertuples())
    return f"pods: {pod_text or 'none'}; newest events: {event_text or 'none'}"


def condition_name(fn: Callable[..., Any]) -> str:
    """A callable's name for progress and errors ("a condition" for a lambda)."""
    name = str(getattr(fn, "__name__", ""))
    return name if name and name != "<lambda>" else "a condition"


def describe(condition: Condition) -> str:
    """A condition in words, for progress bars and errors."""
    if callable(condition):
        return f"accepted by {getattr(condition, '__name__', 'the condition')}"
    return "deleted" if condition.lower() in DELETE_CONDITIONS else condition
