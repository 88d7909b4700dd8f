# %% [markdown]
# # 04 · High availability: three replicas and leader election
#
# The guide's step 5 and its "try it": scale the registry to three replicas and watch leader
# election. `registry-ha.yaml` is the kit's complete version of the guide's fragment.
#
# **What you will learn**
# - why the guide's HA file cannot be applied as written (no selector, no labels, a fragment), and
#   why applying it over the dev StatefulSet is rejected (`podManagementPolicy` is immutable);
# - why *required* anti-affinity leaves replicas Pending on one node (lesson 05 shows it) and
#   *preferred* does not;
# - leader election through a `Lease`: one holder, renewed every retry period;
# - why three replicas on SQLite are not three copies of one registry: each pod has its own file,
#   so only the leader is ready and serves (active/passive). PostgreSQL (lesson 07) is the answer;
# - failover: delete the leader and time how long until another replica leads and serves.
#
# *This lesson's frame is complete; its deeper measurements (agents re-registering after a
# failover, rolling updates) grow with the registry's HA work.*

# %% tags=["parameters"]
cluster = "local"
namespace = "mcp-mesh"
image = "mcp-mesh/registry:dev"
replicas = 3
rollout_timeout = 180
failover_timeout = 90  # seconds for another replica to take over
lease_name = "mcp-mesh-registry-leader"  # the registry's default LEADER_ELECTION_LEASE_NAME
cleanup = True  # go back to the one-replica dev registry for the next lessons

# %%
import time

import labkit as lk

lab = lk.connect(cluster=cluster, namespace=namespace)
STATEFULSET = "statefulset/mcp-mesh-registry"
SELECTOR = "app.kubernetes.io/name=mcp-mesh-registry"
IMAGES = {"mcp-mesh/registry": image}
# Set-up (idempotent): the dev registry of lessons 00-02, so the upgrade below starts where the guide does.
if lab.exists(STATEFULSET) and lab.get(STATEFULSET)["spec"].get("podManagementPolicy") == "Parallel":
    lab.delete(STATEFULSET)
for name in ("namespace-rbac.yaml", "registry-config.yaml", "registry-statefulset-dev.yaml"):
    lab.apply(lk.MANIFESTS / name, images=IMAGES)
lab.wait_rollout(STATEFULSET, timeout=rollout_timeout)
lk.check(lab.get(STATEFULSET)["status"].get("readyReplicas") == 1, "starting point: the one-replica dev registry is ready")

# %% [markdown]
# ## 1. The guide's `kubectl apply -f registry-ha.yaml`, over the dev StatefulSet
# The API server refuses to change `podManagementPolicy` (and most other StatefulSet fields) in place.

# %%
lk.show("kubectl apply -f manifests/registry-ha.yaml")
error = lk.expect_failure(lab.apply, lk.MANIFESTS / "registry-ha.yaml", images=IMAGES, match="(?i)forbidden")

# %% [markdown]
# The fix: delete the StatefulSet (its claims stay, so pod 0 keeps its data), then apply.

# %%
lk.show("kubectl delete statefulset mcp-mesh-registry && kubectl apply -f manifests/registry-ha.yaml")
lab.delete(STATEFULSET)
applied = lab.apply(lk.MANIFESTS / "registry-ha.yaml", images=IMAGES)
if replicas != 3:
    lab.scale(STATEFULSET, replicas)
spec = lab.get(STATEFULSET)["spec"]
lk.check(spec["replicas"] == replicas and spec["podManagementPolicy"] == "Parallel", f"{applied}: {replicas} replicas, Parallel")

# %% [markdown]
# ## 2. Three pods, one leader
# `kubectl rollout status` would wait forever here: on SQLite only the leader reports ready, by
# design. So the lesson waits for what it expects: every pod running, one Lease holder, and that
# holder ready.

# %%
def leader_ready() -> bool:
    pods = lab.pods(SELECTOR)
    holder = lab.lease_holder(lease_name)
    running = (pods["phase"] == "Running").sum() == replicas
    return bool(running and holder and pods.set_index("name").get("ready", {}).get(holder, False))


lab.wait_for(leader_ready, timeout=rollout_timeout)
pods = lab.pods(SELECTOR)
display(pods)
leader = lab.lease_holder(lease_name)
ready_pods = sorted(pods[pods["ready"]]["name"])
print(f"lease holder: {leader}; ready: {ready_pods}")
lk.check((pods["phase"] == "Running").sum() == replicas, f"all {replicas} pods running (preferred anti-affinity schedules them on one node)")
lk.check(ready_pods == [leader], "only the leader is ready: on SQLite the Service sends everything to one pod",
         "each replica has its own SQLite file; serving from followers would split the data")
lk.record("ha_pods_running", int((pods["phase"] == "Running").sum()))
lk.record("ha_ready_replicas", len(ready_pods))

# %%
lk.show(f"kubectl get lease {lease_name} -o yaml")
lease = lab.lease(lease_name)
print({k: lease.get(k) for k in ("holderIdentity", "leaseDurationSeconds", "acquireTime", "renewTime", "leaseTransitions")})
lk.check(lease.get("leaseDurationSeconds") == 15, "the Lease carries the guide's 15s duration")

# %% [markdown]
# Each replica exports `mcp_registry_leader` (1 on the leader): scrape every pod directly.

# %%
leader_metric = {}
for pod in sorted(pods["name"]):
    with lab.port_forward(f"pod/{pod}", 9090) as metrics_url:
        df = lk.scrape_metrics(metrics_url)
    leader_metric[pod] = float(df[df["name"] == "mcp_registry_leader"]["value"].sum())
print(leader_metric)
lk.check(sorted(p for p, v in leader_metric.items() if v == 1.0) == [leader], "exactly one pod reports mcp_registry_leader 1, the lease holder")

# %% [markdown]
# ## 3. Failover
# Delete the leader. On SIGTERM it releases the Lease, so another replica takes it within about one
# retry period (2s) instead of waiting for the lease to expire (15s). The time below runs from the
# delete until the Service answers `/ready` from the new leader.

# %%
def serving_leader() -> str | None:
    holder = lab.lease_holder(lease_name)
    if holder in (None, leader):
        return None
    row = lab.pods(SELECTOR).set_index("name")
    return holder if holder in row.index and bool(row.loc[holder, "ready"]) else None


started = time.monotonic()
lk.show(f"kubectl delete pod {leader}")
lab.delete(f"pod/{leader}", wait=False)
lab.wait_for(serving_leader, timeout=failover_timeout)
failover_seconds = time.monotonic() - started
new_leader = lab.lease_holder(lease_name)
print(f"{leader} → {new_leader} in {failover_seconds:.1f}s")
lk.check(new_leader != leader and failover_seconds > 0, f"{new_leader} leads and is ready {failover_seconds:.1f}s after the delete")
lk.record("failover_seconds", round(failover_seconds, 2))

# %%
with lab.port_forward("svc/mcp-mesh-registry", 8000) as url:
    reg = lk.RegistryClient(url)
    lk.check(reg.ready(), "the Service serves from the new leader")
lab.wait_for(SELECTOR, lambda pod: pod.get("status", {}).get("phase") == "Running", timeout=rollout_timeout)
lk.check(lab.lease(lease_name).get("leaseTransitions", 0) >= 1, "the Lease counts the transition")

# %% [markdown]
# ## Summary
# - the kit's `registry-ha.yaml` applies on its own; over the dev StatefulSet it needs a delete first;
# - three pods, one Lease holder, and on SQLite only that holder ready;
# - a deleted leader hands over in seconds because it releases the Lease on SIGTERM.
#
# On SQLite the new leader serves *its own* file: agents get 410 on their next heartbeat and
# register again. For replicas that share one set of data, see **07-production-postgres**.

# %% [markdown]
# ## Cleanup
# Back to the one-replica dev registry; the followers' claims go too.

# %%
if cleanup:
    lab.delete(STATEFULSET)
    for ordinal in range(1, replicas):
        lab.delete(f"pvc/data-mcp-mesh-registry-{ordinal}")
    lab.apply(lk.MANIFESTS / "registry-statefulset-dev.yaml", images=IMAGES)
    lab.wait_rollout(STATEFULSET, timeout=rollout_timeout)
    lk.check(lab.get(STATEFULSET)["status"].get("readyReplicas") == 1, "back to one ready replica; follower claims removed")
