# %% [markdown]
# # 05 · Pitfalls: break it on purpose, see the symptom, fix it
#
# *Takes about 1.8 min on the local cluster when run top to bottom (measured on 2 cores), plus your time to read, type and do the exercise.*
#
# The guide's "Common pitfalls" and "Troubleshooting", each one made real from a file in
# `manifests/pitfalls/`. Every broken object has its own name and the label
# `app.kubernetes.io/part-of=mcp-mesh-pitfalls`, so the real registry is never touched.
#
# **What you will learn** to recognise, from the outside:
# 1. a claim Pending on a storage class that does not exist;
# 2. `kubectl wait` failing on pods that do not exist yet;
# 3. CrashLoopBackOff from a bad setting, and the registry's exit-2 message in the previous log;
# 4. ImagePullBackOff from a wrong image;
# 5. 403 on leases from a ServiceAccount without the lease RBAC;
# 6. replicas Pending under required anti-affinity on a one-node cluster;
# 7. leader election flapping from timings that are too tight;
# 8. OOMKilled from a memory limit below what the registry needs.

# %% tags=["parameters"]
cluster = "local"
namespace = "mcp-mesh"
image = "mcp-mesh/registry:dev"
symptom_timeout = 120  # seconds to wait for each symptom to show
fix_timeout = 120  # seconds for each fix to roll out
observe_seconds = 15  # how long to watch the leader election flap
cleanup = True  # remove every pitfall object
solutions = False  # True: the exercises' solutions run too (the test suite does)

# %%
import time

import yaml

import labkit as lk

lab = lk.connect(cluster=cluster, namespace=namespace)
lab.apply(lk.MANIFESTS / "namespace-rbac.yaml", namespace=namespace)  # set-up (idempotent)
PITFALLS = lk.MANIFESTS / "pitfalls"
IMAGES = {"mcp-mesh/registry": image}


def load(name: str) -> list[dict]:
    """The documents of a pitfall file, to apply as they are or to fix."""
    return [doc for doc in yaml.safe_load_all((PITFALLS / name).read_text()) if doc]


def deployment(docs: list[dict]) -> dict:
    return next(doc for doc in docs if doc["kind"] in ("Deployment", "StatefulSet"))


def set_env(docs: list[dict], **values: str) -> list[dict]:
    """The same documents with env values replaced: the fix, as an edit of the broken file."""
    for var in deployment(docs)["spec"]["template"]["spec"]["containers"][0]["env"]:
        if var["name"] in values:
            var["value"] = values[var["name"]]
    return docs


def log_of(pod: str) -> str:
    """A pod's log, or "" while its container has not started yet."""
    try:
        return lab.logs(pod)
    except lk.LabError:
        return ""


def one_ready_pod(selector: str) -> bool:
    """The Deployment's single replica is ready and the pod it replaced is gone (graceful termination)."""
    pods = lab.pods(selector)
    return len(pods) == 1 and bool(pods["ready"].all())


def pod_reason(selector: str) -> str:
    pods = lab.pods(selector)
    return ",".join(sorted(set(pods["reason"].fillna("")))) if len(pods) else ""


def remove_pitfalls() -> None:
    """Every pitfall object (and the Leases their registries made), so each run starts from scratch."""
    for path in sorted(PITFALLS.glob("*.yaml")):
        lab.delete(path, namespace=namespace)
    lab.delete("rolebinding/registry-no-lease-rbac-leases")
    for lease in ("registry-tight-election", "registry-no-lease-rbac"):
        lab.delete(f"lease/{lease}")
    lab.wait_for("app.kubernetes.io/part-of=mcp-mesh-pitfalls", "delete", timeout=fix_timeout)  # their pods


remove_pitfalls()  # left over from an interrupted run, if any
lk.check(lab.exists(f"namespace/{namespace}"), f"connected to {lab.context}; no pitfall objects left from earlier runs")

# %% [markdown]
# ## 1. PVC stuck in Pending
# The claim names `fast-ssd`, a class the cluster does not have. Nothing fails loudly: the claim just
# stays Pending, and an event says why.

# %%
lk.show("kubectl apply -f manifests/pitfalls/pvc-missing-storage-class.yaml && kubectl describe pvc registry-data-fast")
lab.apply(PITFALLS / "pvc-missing-storage-class.yaml", namespace=namespace)


def pvc_event() -> str:
    events = lab.events("pvc/registry-data-fast")
    return str(events["message"].iloc[-1]) if len(events) else ""


lab.wait_for(lambda: "fast-ssd" in pvc_event(), timeout=symptom_timeout)
print(pvc_event())
lk.check(lab.get("pvc/registry-data-fast")["status"]["phase"] == "Pending", "the claim is Pending")
lk.check("fast-ssd" not in set(lab.storage_classes()["name"]), "…because `kubectl get storageclass` has no `fast-ssd`")
lk.record("pvc_pending_event", pvc_event()[:200])

# %% [markdown]
# **Fix:** a claim's class cannot be edited. Delete it and create one that names a class from the list
# (`manifests/registry-data-pvc.yaml`, lesson 01).

# %%
lab.delete("pvc/registry-data-fast")
lk.check(not lab.exists("pvc/registry-data-fast"), "broken claim deleted (registry-data-pvc.yaml names `standard`)")

# %% [markdown]
# ## 2. Waiting on pods that do not exist yet
# The guide waits with `kubectl wait --for=condition=ready pod -l ...`. Run before the controller
# has created any pod, it fails at once instead of waiting:

# %%
lk.expect_failure(lab.kubectl, "wait", "--for=condition=Ready", "pod", "-l", "app.kubernetes.io/name=registry-bad-setting", "--timeout=5s", match="no matching resources")

# %% [markdown]
# `lab.wait_for(selector, ...)` and `kubectl rollout status` wait for the pods to appear first.
#
# ## 3. CrashLoopBackOff from a bad setting
# `AGENT_TIMEOUT: soon` is not a duration. The registry refuses to start with a bad value: exit
# status 2 and one line naming the variable. Kubernetes restarts it with a growing back-off.

# %%
lk.show("kubectl apply -f manifests/pitfalls/bad-setting-crashloop.yaml")
lab.apply(PITFALLS / "bad-setting-crashloop.yaml", images=IMAGES, namespace=namespace)
BAD = "app.kubernetes.io/name=registry-bad-setting"
lab.wait_for(lambda: (lab.pods(BAD)["restarts"] >= 1).any(), timeout=symptom_timeout)
display(lab.pods(BAD))
bad_pod = lab.pods(BAD)["name"].iloc[0]
lk.show(f"kubectl logs {bad_pod} --previous")
# Between two crashes the kubelet may already have removed the container the pod names as the last one
# ("unable to retrieve container logs"): ask again until the previous container's log is there.
def previous_log() -> str:
    try:
        return lab.logs(bad_pod, previous=True)
    except lk.LabError as exc:  # no terminated container yet, or already removed
        return str(exc)


lab.wait_for(lambda: "AGENT_TIMEOUT" in previous_log(), timeout=symptom_timeout)
previous = previous_log()
print(previous)
lk.check("AGENT_TIMEOUT" in previous and "soon" in previous, "the previous container's log names the variable and the value")
lk.record("crashloop_message_names_variable", "AGENT_TIMEOUT" in previous)

# %%
lk.show(f"kubectl describe pod {bad_pod}   # Events: Back-off restarting failed container")
last = lab.get(f"pod/{bad_pod}")["status"]["containerStatuses"][0].get("lastState", {}).get("terminated", {})
print(last)
lk.check(last.get("exitCode") == 2, "the container exited with status 2 (bad configuration)")

# %% [markdown]
# **Fix:** a valid duration. The Deployment rolls out a new pod that starts and becomes ready.

# %%
lab.apply(set_env(load("bad-setting-crashloop.yaml"), AGENT_TIMEOUT="60s"), images=IMAGES, namespace=namespace)
lab.wait_rollout("deployment/registry-bad-setting", timeout=fix_timeout)
lab.wait_for(lambda: one_ready_pod(BAD), timeout=fix_timeout)  # the crashing pod takes a moment to go
lk.check(lab.pods(BAD)["ready"].all(), "with AGENT_TIMEOUT=60s the registry starts and is ready")

# %% [markdown]
# ## 4. ImagePullBackOff from a wrong image
# There is no log: the container never started. The pod's reason and its events tell the story.

# %%
lk.show("kubectl apply -f manifests/pitfalls/wrong-image.yaml && kubectl get pods -l app.kubernetes.io/name=registry-wrong-image")
lab.apply(PITFALLS / "wrong-image.yaml", namespace=namespace)
WRONG = "app.kubernetes.io/name=registry-wrong-image"
lab.wait_for(lambda: any(r in pod_reason(WRONG) for r in ("ErrImagePull", "ImagePullBackOff")), timeout=symptom_timeout)
display(lab.pods(WRONG))
reason = pod_reason(WRONG)
lk.check("ImagePull" in reason, f"the pod waits in {reason}")
lk.record("image_pull_reason", reason)

# %%
fixed = load("wrong-image.yaml")
deployment(fixed)["spec"]["template"]["spec"]["containers"][0]["image"] = image
lab.apply(fixed, namespace=namespace)
lab.wait_rollout("deployment/registry-wrong-image", timeout=fix_timeout)
lab.wait_for(lambda: one_ready_pod(WRONG), timeout=fix_timeout)  # the old pod is still terminating
lk.check(lab.pods(WRONG)["ready"].all(), f"with the right image ({image}) the pod runs and is ready")

# %% [markdown]
# ## 5. 403 on leases: a ServiceAccount without the lease RBAC
# Ask first, and the API server says no before anything is deployed:

# %%
lk.show(f"kubectl auth can-i update leases.coordination.k8s.io -n {namespace} --as=system:serviceaccount:{namespace}:registry-no-lease-rbac")
lab.apply(PITFALLS / "sa-without-lease-rbac.yaml", images=IMAGES, namespace=namespace)
lk.check(not lab.can_i("update", "leases.coordination.k8s.io", service_account="registry-no-lease-rbac"), "can-i says no for registry-no-lease-rbac")
NORBAC = "app.kubernetes.io/name=registry-no-lease-rbac"


def forbidden_logged() -> bool:
    pods = lab.pods(NORBAC)
    return any("forbidden" in log_of(p).lower() or "403" in log_of(p) for p in pods["name"])


lab.wait_for(forbidden_logged, timeout=symptom_timeout)
norbac_pod = lab.pods(NORBAC)["name"].iloc[0]
forbidden_lines = [line for line in log_of(norbac_pod).splitlines() if "403" in line or "forbidden" in line.lower()]
print("\n".join(forbidden_lines[-3:]))
lk.check(len(forbidden_lines) > 0, "the registry's log shows the 403 on leases")
lk.check(not lab.pods(NORBAC)["ready"].any(), "the registry is not ready: it cannot become leader")
lk.record("no_rbac_forbidden", True)

# %% [markdown]
# **Fix:** bind the lease Role to this ServiceAccount. The registry's next attempt succeeds.

# %%
binding = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "RoleBinding",
    "metadata": {"name": "registry-no-lease-rbac-leases", "labels": {"app.kubernetes.io/part-of": "mcp-mesh-pitfalls"}},
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "mcp-mesh-registry-leader-election"},
    "subjects": [{"kind": "ServiceAccount", "name": "registry-no-lease-rbac", "namespace": namespace}],
}
lk.show("kubectl create rolebinding registry-no-lease-rbac-leases --role=mcp-mesh-registry-leader-election --serviceaccount=mcp-mesh:registry-no-lease-rbac")
lab.apply(binding, namespace=namespace)
lab.wait_for(lambda: lab.can_i("update", "leases.coordination.k8s.io", service_account="registry-no-lease-rbac"), timeout=fix_timeout)  # RBAC changes reach the authorizer within moments
lk.check(lab.can_i("update", "leases.coordination.k8s.io", service_account="registry-no-lease-rbac"), "can-i now says yes")
lab.wait_for(NORBAC, "Ready", timeout=fix_timeout)
lk.check(lab.lease_holder("registry-no-lease-rbac") == norbac_pod, "the registry took its Lease and is ready")

# %% [markdown]
# ## 6. Required anti-affinity on a one-node cluster
# One replica per node, enforced: replica 0 runs, the other two can never be scheduled.

# %%
lk.show("kubectl apply -f manifests/pitfalls/required-anti-affinity.yaml")
lab.apply(PITFALLS / "required-anti-affinity.yaml", images=IMAGES, namespace=namespace)
SPREAD = "app.kubernetes.io/name=registry-required-spread"
nodes = int(lab.nodes()["ready"].sum())


def pending_count() -> int:
    pods = lab.pods(SPREAD)
    return int((pods["phase"] == "Pending").sum()) if len(pods) == 3 else 0


lab.wait_for(lambda: pending_count() == 3 - min(nodes, 3) and (lab.pods(SPREAD)["phase"] == "Running").sum() == min(nodes, 3), timeout=symptom_timeout)
display(lab.pods(SPREAD))
events = lab.events()
scheduling = events[events["reason"] == "FailedScheduling"]
display(scheduling[["object", "message"]].tail(3))
lk.check(pending_count() == 3 - min(nodes, 3), f"{pending_count()} of 3 replicas Pending on {nodes} node(s)")
if nodes < 3:
    lk.check(scheduling["message"].str.contains("anti-affinity").any(), "FailedScheduling names the anti-affinity rule")
lk.record("anti_affinity_pending", pending_count())

# %% [markdown]
# **Fix:** *prefer* spreading (as `registry-ha.yaml` does). Affinity is part of the pod template, but
# pods that never started are simplest replaced: delete and apply the preferred version.

# %%
spread = load("required-anti-affinity.yaml")
anti = deployment(spread)["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
term = anti.pop("requiredDuringSchedulingIgnoredDuringExecution")[0]
anti["preferredDuringSchedulingIgnoredDuringExecution"] = [{"weight": 100, "podAffinityTerm": term}]
lab.delete("statefulset/registry-required-spread")
lab.apply(spread, images=IMAGES, namespace=namespace)
lab.wait_rollout("statefulset/registry-required-spread", timeout=fix_timeout)
lk.check((lab.pods(SPREAD)["phase"] == "Running").sum() == 3, "with preferred anti-affinity all 3 replicas run")

# %% [markdown]
# ## 7. Leader election flapping
# Legal but far too tight timings (lease 1s, renew deadline 60ms, retry 50ms): an ordinary slow
# API call makes the leader miss its deadline and step down; leadership changes hands again and
# again. The registry logs every change.

# %%
lab.apply(PITFALLS / "leader-election-too-tight.yaml", images=IMAGES, namespace=namespace)
TIGHT = "app.kubernetes.io/name=registry-tight-election"
lab.wait_for(TIGHT, "Running", timeout=symptom_timeout)


def election_log_lines() -> list[str]:
    lines = []
    for pod in lab.pods(TIGHT)["name"]:
        lines += [line for line in log_of(pod).splitlines() if "leader election" in line and ("stopped" in line or "failed" in line)]
    return lines


lk.sleep(observe_seconds, "watching the election flap")
flaps = election_log_lines()
print(f"{len(flaps)} step-downs or failed renewals in {observe_seconds}s, e.g.:")
print("\n".join(flaps[:5]))
lk.check(len(flaps) >= 1, "with a 60ms renew deadline the leader keeps losing its lease")
lk.record("tight_election_flaps", len(flaps))

# %% [markdown]
# **Fix:** the guide's 15s / 10s / 2s. A rolling update would stall here: a new pod only becomes
# ready as leader, and the old pods still hold the Lease. So replace the Deployment; after the new
# pods start, leadership stays put.

# %%
lab.delete("deployment/registry-tight-election")
lab.wait_for(TIGHT, "delete", timeout=fix_timeout)
lab.apply(set_env(load("leader-election-too-tight.yaml"), LEADER_ELECTION_LEASE_DURATION="15s", LEADER_ELECTION_RENEW_DEADLINE="10s", LEADER_ELECTION_RETRY_PERIOD="2s"), images=IMAGES, namespace=namespace)


def one_steady_leader() -> bool:
    pods = lab.pods(TIGHT)
    return len(pods) == 2 and lab.lease_holder("registry-tight-election") in set(pods[pods["ready"]]["name"])


lab.wait_for(one_steady_leader, timeout=fix_timeout)
transitions_before = lab.lease("registry-tight-election").get("leaseTransitions", 0)
lk.sleep(observe_seconds, "watching the leadership stay put")
transitions_after = lab.lease("registry-tight-election").get("leaseTransitions", 0)
lk.check(transitions_after == transitions_before, f"no leadership change in {observe_seconds}s with the guide's timings")

# %% [markdown]
# ## 8. OOMKilled: a memory limit below what the registry needs
# A memory limit is enforced by the kernel, not by the registry: the moment the process passes 16Mi,
# the kernel kills it. The container ends with reason `OOMKilled` and exit status 137 (128 + SIGKILL,
# so the process had no chance to log anything), and Kubernetes restarts it, then backs off.

# %%
lk.show("kubectl apply -f manifests/pitfalls/memory-limit-too-low.yaml")
lab.apply(PITFALLS / "memory-limit-too-low.yaml", images=IMAGES, namespace=namespace)
OOM = "app.kubernetes.io/name=registry-memory-too-low"


def last_end(selector: str) -> dict:
    """How the pod's container ended most recently ({} before it first ends)."""
    pods = lab.pods(selector)
    if not len(pods):
        return {}
    statuses = lab.get(f"pod/{pods['name'].iloc[0]}")["status"].get("containerStatuses") or [{}]
    ends = statuses[0].get("lastState", {}), statuses[0].get("state", {})
    return next((end["terminated"] for end in ends if end.get("terminated")), {})


lab.wait_for(lambda: last_end(OOM).get("reason") == "OOMKilled", timeout=symptom_timeout)
oom_pod = lab.pods(OOM)["name"].iloc[0]
lk.show(f"kubectl describe pod {oom_pod}   # Last State: Terminated, Reason: OOMKilled, Exit Code: 137")
ended = last_end(OOM)
print({key: ended.get(key) for key in ("reason", "exitCode", "startedAt", "finishedAt")})
lk.check(ended.get("exitCode") == 137, "the kernel killed the container: reason OOMKilled, exit status 137")
lk.record("oom_reason", ended.get("reason"))

# %% [markdown]
# **Fix:** a limit above the registry's working set. It runs in well under 256Mi (lesson 06 measures
# its memory under load); the Deployment rolls out a pod with the new limit.

# %%
roomy = load("memory-limit-too-low.yaml")
deployment(roomy)["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = "256Mi"
lab.apply(roomy, images=IMAGES, namespace=namespace)
lab.wait_rollout("deployment/registry-memory-too-low", timeout=fix_timeout)
lab.wait_for(lambda: one_ready_pod(OOM), timeout=fix_timeout)  # the killed pod takes a moment to go
lk.check(lab.pods(OOM)["ready"].all(), "with a 256Mi limit the registry starts and is ready")

# %% [markdown]
# ## Summary
# | symptom | where you see it | fix |
# | --- | --- | --- |
# | PVC Pending | `kubectl describe pvc` events | a storage class that exists |
# | `no matching resources found` | `kubectl wait -l` right after apply | wait on the rollout |
# | CrashLoopBackOff, exit 2 | `kubectl logs --previous` | the value the log line asks for |
# | ImagePullBackOff | pod reason, events | the image you built and loaded |
# | 403 on leases | registry log, `kubectl auth can-i` | a RoleBinding to the lease Role |
# | replicas Pending | FailedScheduling events | preferred anti-affinity, or more nodes |
# | leadership flapping | registry log, `leaseTransitions` | the guide's timings or longer |
# | OOMKilled, exit 137 | `kubectl describe pod` (Last State) | a limit above the working set |

# %% [markdown]
# ## Exercise: prove a right before you need it
# May the ServiceAccount `registry-no-lease-rbac` read Secrets in this namespace? Ask the API server in
# the terminal: `kubectl auth can-i get secrets --as=system:serviceaccount:<namespace>:registry-no-lease-rbac`,
# and put its answer (True or False) in `may_read_secrets`.

# %%
may_read_secrets = None  # your answer

# %% tags=["solution"]
if solutions:
    may_read_secrets = lab.can_i("get", "secrets", service_account="registry-no-lease-rbac")

# %%
with lk.exercise("prove a right before you need it", required=solutions):
    lk.check(may_read_secrets is lab.can_i("get", "secrets", service_account="registry-no-lease-rbac"),
             "may_read_secrets is what the API server answers", "kubectl auth can-i get secrets --as=...")

# %% [markdown]
# ## Cleanup

# %%
if cleanup:
    remove_pitfalls()
    left = lab.table("deployment", "statefulset", "pod", "pvc", "serviceaccount", selector="app.kubernetes.io/part-of=mcp-mesh-pitfalls")
    lk.check(len(left) == 0, "every pitfall object removed")
