# %% [markdown]
# # 02 · The registry as a StatefulSet
#
# *Takes about 28 s on the local cluster when run top to bottom (measured on 2 cores), plus your time to read, type and do the exercise.*
#
# The guide's step 3: `registry-statefulset-dev.yaml` holds a headless Service, a ClusterIP Service and
# a one-replica StatefulSet with probes, resource limits and a `/data` claim per pod.
#
# **What you will learn**
# - why a StatefulSet: stable pod names (`mcp-mesh-registry-0`), stable DNS through the headless
#   Service, and one claim per pod that outlives the pod;
# - how to wait for a deployment properly (the rollout), and why the guide's
#   `kubectl wait pod -l ...` right after `apply` can fail: the pods may not exist yet;
# - the guide's health-check script, as checks: ready replicas, Services, endpoints, in-cluster DNS.

# %% tags=["parameters"]
cluster = "local"
namespace = "mcp-mesh"
image = "mcp-mesh/registry:dev"  # kind/CI: the unique tag loaded into the cluster
replicas = 1
rollout_timeout = 180
in_cluster_check = True  # run the curl pod of the guide against the DNS name of the Service
cleanup = True  # remove the curl pod; the registry stays for the next lessons
solutions = False  # True: the exercises' solutions run too (the test suite does)

# %%
import labkit as lk

lab = lk.connect(cluster=cluster, namespace=namespace)
from labkit.setups import apply_foundation

apply_foundation(lab)  # lessons 00 and 01's namespace, RBAC and configuration (idempotent)
lk.check(lab.exists("configmap/mcp-registry-config"), f"connected to {lab.context}; namespace, RBAC and configuration in place")

# %% [markdown]
# ## 1. Apply the Services and the StatefulSet
# A StatefulSet's `podManagementPolicy` cannot change in place; if an earlier run of lesson 04 or 07
# left the three-replica shape behind, it is deleted first (its claims stay).

# %%
STATEFULSET = "statefulset/mcp-mesh-registry"
if lab.exists(STATEFULSET) and lab.get(STATEFULSET)["spec"].get("podManagementPolicy") == "Parallel":
    lab.delete(STATEFULSET)
lk.show("kubectl apply -f manifests/registry-statefulset-dev.yaml")
applied = lab.apply(lk.MANIFESTS / "registry-statefulset-dev.yaml", images={"mcp-mesh/registry": image}, namespace=namespace)
print(applied)
lk.check(STATEFULSET in applied and "service/mcp-mesh-registry-headless" in applied, "two Services and the StatefulSet applied")
if replicas != 1:
    lab.scale(STATEFULSET, replicas)

# %% [markdown]
# ## 2. Wait for the rollout
# `kubectl wait --for=condition=ready pod -l app.kubernetes.io/name=mcp-mesh-registry` returns
# *"no matching resources found"* when it runs before the StatefulSet controller has created the pod.
# Waiting on the rollout has no such race: the StatefulSet exists from the moment it is applied.

# %%
lk.show(f"kubectl rollout status statefulset/mcp-mesh-registry --timeout={rollout_timeout}s")
lab.wait_rollout(STATEFULSET, timeout=rollout_timeout)
statefulset = lab.get(STATEFULSET)
ready = statefulset["status"].get("readyReplicas", 0)
lk.check(ready == statefulset["spec"]["replicas"] == replicas, f"{ready}/{replicas} replicas ready")
lk.record("ready_replicas", ready)

# %% [markdown]
# ## 3. Everything the StatefulSet made

# %%
lk.show("kubectl get statefulset,pod,svc,pvc -l app.kubernetes.io/name=mcp-mesh-registry")
display(lab.table("statefulset", "pod", "svc", selector="app.kubernetes.io/name=mcp-mesh-registry"))
lk.show("kubectl get pvc")
display(lab.table("pvc"))

# %%
pods = lab.pods("app.kubernetes.io/name=mcp-mesh-registry")
display(pods)
lk.check(sorted(pods["name"]) == [f"mcp-mesh-registry-{i}" for i in range(replicas)], "pods are named by ordinal: mcp-mesh-registry-0, …")
claim = lab.get("pvc/data-mcp-mesh-registry-0")
lk.check(claim["status"]["phase"] == "Bound", f"pod 0's claim data-mcp-mesh-registry-0 is Bound ({claim['spec']['resources']['requests']['storage']})")
lk.record("pvc_bound", claim["status"]["phase"] == "Bound")

# %% [markdown]
# ## 4. Services and endpoints
# The headless Service (`clusterIP: None`) gives each pod a DNS name
# (`mcp-mesh-registry-0.mcp-mesh-registry-headless.mcp-mesh.svc` in the namespace `mcp-mesh`); the
# ClusterIP Service balances over the *ready* pods, which is what the readiness probe on `/ready` decides.

# %%
headless = lab.get("service/mcp-mesh-registry-headless")
service = lab.get("service/mcp-mesh-registry")
lk.check(headless["spec"]["clusterIP"] == "None", "the headless Service has no cluster IP")
lk.check([p["port"] for p in service["spec"]["ports"]] == [8000, 9090], "the ClusterIP Service exposes 8000 (http) and 9090 (metrics)")
lk.show("kubectl get endpoints mcp-mesh-registry")
endpoints = lab.get("endpoints/mcp-mesh-registry")
addresses = [a["ip"] for subset in endpoints.get("subsets", []) for a in subset.get("addresses", [])]
lk.check(sorted(addresses) == sorted(pods["ip"]), f"the Service routes to the ready pod(s): {addresses}")

# %% [markdown]
# ## 5. The guide's in-cluster check
# The guide's script runs `curl` in a throw-away pod against the Service's DNS name, the way an
# agent inside the cluster would reach the registry.

# %%
if in_cluster_check:
    url = f"http://mcp-mesh-registry.{namespace}:8000/health"
    lk.show(f"kubectl run test-curl --rm -it --image=curlimages/curl --restart=Never -- curl -s {url}")
    curl_pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "test-curl", "labels": {"app.kubernetes.io/part-of": "mcp-mesh-lab"}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "curl", "image": "curlimages/curl:8.8.0", "args": ["-sS", "--max-time", "10", url]}]},
    }
    lab.delete("pod/test-curl")
    lab.apply(curl_pod, namespace=namespace)
    lab.wait_for("pod/test-curl", lambda pod: pod.get("status", {}).get("phase") in ("Succeeded", "Failed"), timeout=rollout_timeout)
    answer = lab.logs("test-curl")
    print(answer)
    lk.check(lab.get("pod/test-curl")["status"]["phase"] == "Succeeded" and "healthy" in answer,
             "the registry answers on its Service name inside the cluster")

# %% [markdown]
# ## Summary
# - one registry pod, ready, with its own claim; both Services in place and routing to it;
# - waiting on the rollout instead of on pods avoids the "no matching resources" race;
# - a pod inside the cluster reaches the registry by its Service name.
#
# Next: **03-verify** talks to the registry through a port-forward and runs real MCP Mesh agents.

# %% [markdown]
# ## Exercise: pod 0's own DNS name
# Which DNS name reaches pod 0 directly, from any pod of the cluster? The headless Service above gives
# each pod one (`kubectl get svc mcp-mesh-registry-headless` shows its name). Put the full name, ending
# in `.svc.cluster.local`, in `pod0_dns`.

# %%
pod0_dns = ""  # your answer

# %% tags=["solution"]
if solutions:
    pod0_dns = f"mcp-mesh-registry-0.mcp-mesh-registry-headless.{namespace}.svc.cluster.local"

# %%
with lk.exercise("pod 0's own DNS name", required=solutions):
    headless_name = lab.get("service/mcp-mesh-registry-headless")["metadata"]["name"]
    wanted = f"{pods['name'].iloc[0]}.{headless_name}.{namespace}.svc.cluster.local"
    lk.check(pod0_dns.rstrip(".") == wanted, "pod0_dns names pod 0 through the headless Service",
             "<pod>.<headless service>.<namespace>.svc.cluster.local")

# %% [markdown]
# ## Cleanup
# The registry stays for the next lessons; only the curl pod goes.

# %%
if cleanup:
    lab.delete("pod/test-curl")
    lk.check(not lab.exists("pod/test-curl"), "curl pod removed; the registry keeps running")
