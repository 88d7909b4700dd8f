# %% [markdown]
# # 07 · Production: three registries on one PostgreSQL database
#
# *Takes about 3 min on the local cluster when run top to bottom (177 s measured on 2 cores), plus your time to read, type and do the exercise.*
#
# The guide's Example 2, made to work. With a shared database every replica sees the same data, so
# all three can be ready and serve; leader election still decides which one runs the health monitor.
#
# **What you will learn**
# - what the guide's `postgres-registry.yaml` is missing: the PVC its Deployment mounts, the Service
#   `postgres` the registry connects to, and the database password;
# - switching the registry's configuration (ConfigMap and Secret) and restarting it onto PostgreSQL;
# - three replicas, all ready, one set of data: write through one pod, read it from every pod;
# - the upgrade procedure on PostgreSQL: drain every pod, `kubectl rollout restart` (it completes),
#   resume, with a real MeshJob running through it and the agents watched, measured.

# %% tags=["parameters"]
cluster = "local"
namespace = "mcp-mesh"
image = "mcp-mesh/registry:dev"
replicas = 3
rollout_timeout = 240
# The running job: about 2 min of counting, so it ends after the rolling restart (about 30 s a pod): the
# SDK does not resend a job's completion that a restarting pod cut off (it leaves it to the registry's sweep).
job_steps = 240
job_delay = 0.5  # seconds per step of that job
claim_wait = 5  # seconds a job submitted while drained is watched for a claim
upgrade_timeout = 120  # seconds for the agents and the jobs around the upgrade
cleanup = True  # remove PostgreSQL and go back to the one-replica SQLite registry
solutions = False  # True: the exercises' solutions run too (the test suite does)

# %%
import tempfile
import time
from pathlib import Path

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
# ### An index for slow queries (the guide's step, corrected)
# The guide's "slow registry queries" fix runs `kubectl exec -it postgres-0 -- psql ... CREATE INDEX
# ... ON agents(capability)` and `ON agents(last_seen)`. Neither runs as written here: PostgreSQL is a
# Deployment, so its pod is not `postgres-0` (`deploy/postgres` picks its pod), and the registry's
# `agents` table has no `capability` or `last_seen` column. Capabilities live in their own table, which
# the registry already indexes by `capability`; an agent's last heartbeat is `updated_at`, indexed
# together with `status` for the health monitor's scan (`ix_agents_status_updated`). What is left to
# add is an index on `updated_at` alone, for questions by last heartbeat (`ORDER BY updated_at DESC`).
# The corrected step, in the terminal or through labkit, then the table's indexes:

# %%
PSQL = "kubectl exec deploy/postgres -- psql -U mcpmesh -d registry"
lk.try_in_terminal(lab, f'{PSQL} -c "CREATE INDEX IF NOT EXISTS idx_agents_updated_at ON agents(updated_at)"', expect=r"^CREATE INDEX")
indexes = lk.try_in_terminal(lab, f"{PSQL} -tAc \"SELECT indexname FROM pg_indexes WHERE tablename = 'agents' ORDER BY indexname\"", expect=r"^idx_agents_updated_at$")
lk.check("ix_agents_status_updated" in indexes.split(), "beside the registry's own index for the health monitor's scan")
lk.record("postgres_index_created", "idx_agents_updated_at" in indexes.split())

# %% [markdown]
# ## 4. One leader still runs the health monitor

# %%
holder = lab.lease_holder("mcp-mesh-registry-leader")
lk.check(holder in set(lab.pods(SELECTOR)["name"]), f"{holder} holds the Lease and runs the monitor; the others serve too")

# %% [markdown]
# ## 5. Upgrading: drain, rolling restart, resume
# The registry's upgrade procedure: **drain** every replica (new job claims get nothing, running
# MeshJobs go on), **restart** the replicas one at a time onto the new version (`kubectl rollout
# restart` here; `kubectl set image` does the same with a new tag), then **resume**. Drain is per
# replica and in memory, so it is sent to each pod, not through the Service.
#
# Two real agents hold work across it: `lab-counter` (`notebooks/agents/counter.py`) provides the
# `task=True` tool `count`, `lab-dispatcher` submits it as a MeshJob. First a job that is running
# when the upgrade starts.

# %%
from labkit import upgrade
from labkit.agents import start_agent

forward = lab.port_forward("svc/mcp-mesh-registry", 8000)
url = forward.__enter__()
agent_logs = Path(tempfile.mkdtemp(prefix="lab-upgrade-agents-"))
counter, dispatcher = (start_agent(lk.NOTEBOOKS / "agents" / f"{name}.py", url, agent_logs) for name in ("counter", "dispatcher"))
running_job = upgrade.submit_count(dispatcher, upgrade_timeout, steps=job_steps, delay=job_delay)
before = upgrade.wait_job(url, running_job, lambda j: bool(j and j.get("progress")), "the job to report progress", upgrade_timeout)
print(f"running job {running_job}: {before['progress']:.0%} done, held by {before['owner_instance_id']}")

# %% [markdown]
# **Drain**, once per pod: `meshctl` talks to the one registry its URL reaches. `/admin/drain`
# follows `AUTH_TOKEN`; meshctl sends no bearer header, but the token as the URL's password works.

# %%
token = upgrade.admin_token(lab)  # AUTH_TOKEN from secret/mcp-registry-secret
lk.show("kubectl port-forward pod/mcp-mesh-registry-0 8000 &  # then, for each pod in turn:\n"
        "meshctl registry drain --registry-url http://admin:$AUTH_TOKEN@localhost:8000")
started = time.monotonic()
drained = upgrade.set_drain(lab, True, token)
print(drained)
lk.check(all(state["draining"] for state in drained.values()), f"all {len(drained)} replicas draining")
lk.check(all(state["live_claims"] >= 1 for state in drained.values()), "each sees the running job as a live claim (one database)")
queued_job = upgrade.submit_count(dispatcher, upgrade_timeout, steps=2, delay=0.1)
time.sleep(claim_wait)
queued = upgrade.job_state(url, queued_job)
lk.check(queued["owner_instance_id"] is None, f"a job submitted while drained is queued, not claimed, after {claim_wait}s")
lk.check(upgrade.job_state(url, running_job)["progress"] > before["progress"], "the running job goes on while drained")

# %% [markdown]
# **Rolling restart.** Every replica is ready on PostgreSQL, so the controller replaces them one at
# a time, from the highest ordinal, each once the one before is ready, and `rollout status`
# completes. The agents are watched meanwhile: are they still registered?

# %%
def agents_registered() -> bool:
    """Both agents listed (a request the registry does not answer counts as unknown, not missing)."""
    with lk.RegistryClient(url) as reg:
        listed = {a.get("endpoint", "").rstrip("/") for a in reg.agents()}
    return {counter.endpoint, dispatcher.endpoint} <= listed


lk.show("kubectl rollout restart statefulset/mcp-mesh-registry && kubectl rollout status statefulset/mcp-mesh-registry")
with upgrade.Availability(agents_registered) as agents_seen:
    restart_started = time.monotonic()
    print(upgrade.rollout_restart(lab, STATEFULSET))
    lab.wait_rollout(STATEFULSET, timeout=rollout_timeout)
    restart_seconds = time.monotonic() - restart_started
status = lab.get(STATEFULSET)["status"]
lk.check(status.get("updatedReplicas") == replicas and status.get("readyReplicas") == replicas,
         f"rolling restart complete in {restart_seconds:.1f}s: {replicas}/{replicas} replicas updated and ready")
still_draining = upgrade.set_drain(lab, None, token)
print(still_draining)

# %% [markdown]
# Every pod is new, and a new pod starts undrained: the restart itself ended the drain. `resume` is
# still the last step (it is idempotent), for any replica an interrupted upgrade did not restart.

# %%
lk.show("meshctl registry resume --registry-url http://admin:$AUTH_TOKEN@localhost:8000  # for each pod")
resumed = upgrade.set_drain(lab, False, token)
drain_to_resume = time.monotonic() - started
lk.check(not any(state["draining"] for state in resumed.values()), "every replica resumed")
claimed = upgrade.wait_job(url, queued_job, lambda j: bool(j and j.get("status") == "completed"), "the queued job to be claimed and done", upgrade_timeout)
lk.check(claimed["status"] == "completed", "after resume claims work again: the job queued while drained ran and completed")
after = upgrade.wait_job(url, running_job, lambda j: bool(j and j.get("status") == "completed"), "the running job to complete", upgrade_timeout)
survived = after["result"] == {"counted": job_steps} and after["claim_epoch"] == before["claim_epoch"]
lk.check(survived, f"the job that ran through the upgrade completed ({after['result']}), never reclaimed (claim epoch {after['claim_epoch']})")
print(f"drain to resume {drain_to_resume:.1f}s; agents missing from the registry {agents_seen.down_seconds:.1f}s "
      f"({agents_seen.outages} times), registry not answering {agents_seen.unknown_seconds:.1f}s; replicas still draining after the restart: {sum(s['draining'] for s in still_draining.values())}")
lk.check(agents_registered(), "both agents are registered after the upgrade, on every replica's shared database")
lk.record("postgres_restart_seconds", round(restart_seconds, 1))
lk.record("postgres_drain_to_resume_seconds", round(drain_to_resume, 1))
lk.record("postgres_agents_missing_seconds", round(agents_seen.down_seconds, 2))
lk.record("postgres_agents_missing_times", agents_seen.outages)
lk.record("postgres_running_job_survived", survived)
lk.record("postgres_queued_job_completed", claimed["status"] == "completed")

# %%
for agent in (counter, dispatcher):
    agent.stop()
forward.__exit__(None, None, None)

# %% [markdown]
# ## Summary
# - the guide's PostgreSQL example works once its claim, its Service and the password exist;
# - three replicas, all ready, all answering with the same data;
# - leader election now only decides who runs the background work;
# - an upgrade is drain (per pod), `kubectl rollout restart` (it completes: every replica becomes
#   ready), resume; the agents stay registered and a running MeshJob completes, measured above.

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
