# %% [markdown]
# # 07 · Production: three registries on one PostgreSQL database
#
# *Takes about 41 s on the local cluster when run top to bottom (measured on 2 cores), plus your time to read, type and do the exercise.*
#
# The guide's Example 2, made to work. With a shared database every replica sees the same data, so
# all three can be ready and serve; leader election still decides which one runs the health monitor.
#
# **What you will learn**
# - what the guide's `postgres-registry.yaml` is missing: the PVC its Deployment mounts, the Service
#   `postgres` the registry connects to, and the database password;
# - switching the registry's configuration (ConfigMap and Secret) and restarting it onto PostgreSQL;
# - three replicas, all ready, one set of data: write through one pod, read it from every pod.

# %% tags=["parameters"]
cluster = "local"
namespace = "mcp-mesh"
image = "mcp-mesh/registry:dev"
replicas = 3
rollout_timeout = 240
cleanup = True  # remove PostgreSQL and go back to the one-replica SQLite registry
solutions = False  # True: the exercises' solutions run too (the test suite does)

# %%
import yaml

import labkit as lk

lab = lk.connect(cluster=cluster, namespace=namespace)
STATEFULSET = "statefulset/mcp-mesh-registry"
SELECTOR = "app.kubernetes.io/name=mcp-mesh-registry"
IMAGES = {"mcp-mesh/registry": image}
lab.apply(lk.MANIFESTS / "namespace-rbac.yaml", namespace=namespace)  # set-up (idempotent)
dev_services = [d for d in yaml.safe_load_all((lk.MANIFESTS / "registry-statefulset-dev.yaml").read_text()) if d and d["kind"] == "Service"]
lab.apply(dev_services, namespace=namespace)
lk.check(lab.exists("service/mcp-mesh-registry"), f"connected to {lab.context}; the registry's Services exist")

# %% [markdown]
# ## 1. PostgreSQL, as the kit completes it
# Besides the guide's Secret, Deployment and ConfigMap, the file creates the claim `postgres-pvc`
# (without it the pod stays Pending: *persistentvolumeclaim "postgres-pvc" not found*), the Service
# `postgres`, and adds `DATABASE_PASSWORD` to the registry's Secret.

# %%
lk.show("kubectl apply -f manifests/postgres-registry.yaml")
applied = lab.apply(lk.MANIFESTS / "postgres-registry.yaml", namespace=namespace)
print(applied)
lk.check({"persistentvolumeclaim/postgres-pvc", "service/postgres", "deployment/postgres"} <= set(applied), "PostgreSQL with its claim and Service applied")
lab.wait_rollout("deployment/postgres", timeout=rollout_timeout)
lk.check(lab.get("pvc/postgres-pvc")["status"]["phase"] == "Bound", "PostgreSQL is ready and its claim is Bound")

# %%
config = lab.get("configmap/mcp-registry-config")["data"]
print({k: v for k, v in config.items() if k.startswith("DATABASE")})
lk.check(config["DATABASE_TYPE"] == "postgresql" and config["DATABASE_HOST"] == "postgres", "the registry's configuration now points at the Service `postgres`")

# %% [markdown]
# ## 2. Three registry replicas on the shared database
# The HA StatefulSet (lesson 04) with the new configuration. Settings are read at start, so the
# StatefulSet is recreated; with a shared database every replica becomes ready, and
# `rollout status` completes.

# %%
lab.delete(STATEFULSET)
lab.apply(lk.MANIFESTS / "registry-ha.yaml", images=IMAGES, namespace=namespace)
if replicas != 3:
    lab.scale(STATEFULSET, replicas)
lk.show("kubectl rollout status statefulset/mcp-mesh-registry")
lab.wait_rollout(STATEFULSET, timeout=rollout_timeout)
ready = lab.get(STATEFULSET)["status"].get("readyReplicas", 0)
display(lab.pods(SELECTOR))
lk.check(ready == replicas, f"{ready}/{replicas} replicas ready: every replica serves")
lk.record("postgres_ready_replicas", ready)

# %% [markdown]
# ## 3. One set of data
# Register an agent through the Service, then ask every pod directly.

# %%
with lab.port_forward("svc/mcp-mesh-registry", 8000) as url:
    lk.RegistryClient(url).register("postgres-shared-agent", ["shared"], "http://shared-agent:8080")
seen_by = []
for pod in sorted(lab.pods(SELECTOR)["name"]):
    with lab.port_forward(f"pod/{pod}", 8000) as pod_url:
        if "postgres-shared-agent" in [a["id"] for a in lk.RegistryClient(pod_url).agents()]:
            seen_by.append(pod)
print(f"seen by: {seen_by}")
lk.check(len(seen_by) == replicas, "every replica returns the agent registered through the Service")
lk.record("shared_agent_seen_by", len(seen_by))

# %% [markdown]
# ## 4. One leader still runs the health monitor

# %%
holder = lab.lease_holder("mcp-mesh-registry-leader")
lk.check(holder in set(lab.pods(SELECTOR)["name"]), f"{holder} holds the Lease and runs the monitor; the others serve too")

# %% [markdown]
# ## Summary
# - the guide's PostgreSQL example works once its claim, its Service and the password exist;
# - three replicas, all ready, all answering with the same data;
# - leader election now only decides who runs the background work.

# %% [markdown]
# ## Exercise: how many serve?
# On PostgreSQL every replica may be ready. How many are? Ask the StatefulSet in the terminal
# (`kubectl get statefulset mcp-mesh-registry`) and put the number in `ready_now`.

# %%
ready_now = None  # your answer

# %% tags=["solution"]
if solutions:
    ready_now = lab.get(STATEFULSET)["status"].get("readyReplicas", 0)

# %%
with lk.exercise("how many serve", required=solutions):
    lk.check(ready_now == lab.get(STATEFULSET)["status"].get("readyReplicas", 0), "ready_now is the StatefulSet's READY count",
             "kubectl get statefulset mcp-mesh-registry: READY n/3")

# %% [markdown]
# ## Cleanup
# Back to SQLite and one replica; PostgreSQL and its claim are removed.

# %%
if cleanup:
    lab.delete(STATEFULSET)
    for ordinal in range(1, replicas):
        lab.delete(f"pvc/data-mcp-mesh-registry-{ordinal}")
    postgres_only = [d for d in yaml.safe_load_all((lk.MANIFESTS / "postgres-registry.yaml").read_text()) if d and d["metadata"]["name"] in ("postgres", "postgres-pvc", "postgres-secret")]
    lab.delete(postgres_only, namespace=namespace)
    # A Secret's stringData is not kept as such, so re-applying registry-config.yaml would not drop
    # DATABASE_PASSWORD: replace the Secret instead.
    lab.delete("secret/mcp-registry-secret")
    lab.apply(lk.MANIFESTS / "registry-config.yaml", namespace=namespace)
    lab.apply(lk.MANIFESTS / "registry-statefulset-dev.yaml", images=IMAGES, namespace=namespace)
    lab.wait_rollout(STATEFULSET, timeout=rollout_timeout)
    lk.check(not lab.exists("deployment/postgres") and lab.get(STATEFULSET)["status"].get("readyReplicas") == 1, "PostgreSQL removed; the one-replica SQLite registry is back")
