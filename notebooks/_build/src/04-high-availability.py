# %% [markdown]
# # 04 · High availability: three replicas and leader election
#
# *Takes about 2.9 min on the local cluster when run top to bottom (measured on 2 cores), plus your time to read, type and do the exercise.*
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
# - the upgrade procedure (drain, rolling restart, resume) and why on SQLite the rolling restart
#   stalls and is finished by hand;
# - failover, measured: a graceful delete (the leader releases the Lease on SIGTERM) and a crash
#   (grace period 0), and how long until every real MCP Mesh agent is registered on the new leader;
# - the guide's troubleshooting made real: timings too tight make leadership flap on every hiccup,
#   the guide's fix (30s/20s) rides them out.

# %% tags=["parameters"]
cluster = "local"
namespace = "mcp-mesh"
image = "mcp-mesh/registry:dev"
replicas = 3
rollout_timeout = 180
failover_timeout = 90  # seconds for another replica to take over
lease_name = "mcp-mesh-registry-leader"  # the default LEADER_ELECTION_LEASE_NAME of the registry
agents_timeout = 90  # seconds for the agents to come back after a failover
tight_timings = ("2s", "1500ms", "500ms")  # lease / renew deadline / retry period: too tight
fixed_timings = ("30s", "20s", "2s")  # the troubleshooting fix of the guide
hiccups = 4  # leader stalls of hiccup_seconds each (local cluster only)
hiccup_seconds = 2.5
job_steps = 40  # the MeshJob running when the upgrade starts: about 20 s of counting
job_delay = 0.5  # seconds per step of that job
claim_wait = 5  # seconds a job submitted while drained is watched for a claim
stall_seconds = 15  # how long the lesson watches the rolling restart not going on
cleanup = True  # go back to the one-replica dev registry for the next lessons
solutions = False  # True: the exercises' solutions run too (the test suite does)

# %%
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

import labkit as lk
from labkit import failover

lab = lk.connect(cluster=cluster, namespace=namespace)
STATEFULSET = "statefulset/mcp-mesh-registry"
SELECTOR = "app.kubernetes.io/name=mcp-mesh-registry"
IMAGES = {"mcp-mesh/registry": image}
# The dev registry of lessons 00-02 (idempotent), so the upgrade below starts where the guide does.
dev = lk.setup_dev_registry(lab, image, timeout=rollout_timeout)
lk.check(dev["status"].get("readyReplicas") == 1, "starting point: the one-replica dev registry is ready")

# %% [markdown]
# ## 1. The guide's `kubectl apply -f registry-ha.yaml`, over the dev StatefulSet
# The API server refuses to change `podManagementPolicy` (and most other StatefulSet fields) in place.

# %%
lk.show("kubectl apply -f manifests/registry-ha.yaml")
error = lk.expect_failure(lab.apply, lk.MANIFESTS / "registry-ha.yaml", images=IMAGES, namespace=namespace, match="(?i)forbidden")

# %% [markdown]
# The fix: delete the StatefulSet (its claims stay, so pod 0 keeps its data), then apply.

# %%
lk.show("kubectl delete statefulset mcp-mesh-registry && kubectl apply -f manifests/registry-ha.yaml")
lab.delete(STATEFULSET)
applied = lab.apply(lk.MANIFESTS / "registry-ha.yaml", images=IMAGES, namespace=namespace)
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
    """Every replica running, one Lease holder, and that holder ready."""
    return failover.leader_ready(lab, replicas, lease_name, SELECTOR)


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
lk.try_in_terminal(lab, f"kubectl get lease {lease_name}", expect=rf"{lease_name}\s+{leader}")
lease = lab.lease(lease_name)
print({k: lease.get(k) for k in ("holderIdentity", "leaseDurationSeconds", "acquireTime", "renewTime", "leaseTransitions")})
lk.check(lease.get("leaseDurationSeconds") == 15, "the Lease carries the guide's 15s duration")

# %% [markdown]
# Each replica exports `mcp_registry_leader` (1 on the leader): scrape every pod directly.

# %%
leader_metric = failover.leader_flags(lab)  # through `kubectl port-forward pod/<name> 9090`, one pod at a time
print(leader_metric)
lk.check(sorted(p for p, v in leader_metric.items() if v == 1.0) == [leader], "exactly one pod reports mcp_registry_leader 1, the lease holder")

# %% [markdown]
# ## 3. Real agents on the active registry
# Two real MCP Mesh agents (`notebooks/agents/`) register through the Service and heartbeat every
# 2 seconds. The forward below follows the Service: after a failover it reaches the new leader.

# %%
from labkit.agents import start_agent

forward = lab.port_forward("svc/mcp-mesh-registry", 8000)
url = forward.__enter__()
reg = lk.RegistryClient(url)
agent_logs = Path(tempfile.mkdtemp(prefix="lab-ha-agents-"))
agents = [start_agent(lk.NOTEBOOKS / "agents" / f"{name}.py", url, agent_logs) for name in ("provider", "consumer")]


def registered_agents() -> set[str]:
    """Endpoints of our agents that the registry behind the Service lists now (empty while it is down)."""
    try:
        listed = {a.get("endpoint", "").rstrip("/") for a in reg.agents()}
    except Exception:
        return set()
    return {agent.endpoint for agent in agents} & listed


lab.wait_for(lambda: len(registered_agents()) == len(agents), timeout=agents_timeout)
lk.check(len(registered_agents()) == len(agents), f"{len(agents)} real agents registered on the leader {leader}")

# %% [markdown]
# ## 4. Graceful failover: delete the leader
# The pod gets SIGTERM; the registry releases the Lease *first*, so a follower takes it at its next
# retry (2s) instead of waiting for the lease to expire (15s). Three times are measured from the
# delete: until another replica holds the Lease, until the Service serves again (the new leader's
# readiness probe, every 5s, has to pass), and until every agent is registered on the new leader. Its
# SQLite file does not know them: their next heartbeat gets 410 Gone, and they register again.


# %%
def reg_ready() -> bool:
    try:
        return reg.ready()
    except Exception:
        return False


def agents_back() -> bool:
    return len(registered_agents()) == len(agents)


def measure(grace_period: int | None) -> dict:
    """Delete the leader's pod (grace_period 0: a crash) and time the takeover; see labkit.failover."""
    watch.mark("graceful delete" if grace_period is None else "crash")
    return failover.measure_failover(lab, lease_name, grace_period=grace_period, serving=reg_ready, agents_back=agents_back,
                                     timeout=failover_timeout, agents_timeout=agents_timeout, selector=SELECTOR)


watch = failover.LeaseWatch(lab, lease_name, SELECTOR).__enter__()  # samples the Lease and readiness for the timeline
lk.show(f"kubectl delete pod {leader}")
graceful = measure(grace_period=None)
print(graceful)
lk.check(graceful["leader_s"] < 2 + 1 + 1, f"{graceful['new']} leads {graceful['leader_s']:.1f}s after the delete (retry period 2s)",
         "a graceful stop releases the Lease; without that it would take the lease duration (15s)")
lk.check(graceful["agents_back_s"] >= graceful["serving_s"], f"every agent is back after {graceful['agents_back_s']:.1f}s")
lk.record("failover_seconds", round(float(graceful["leader_s"]), 2))
lk.record("graceful_serving_seconds", round(float(graceful["serving_s"]), 2))
lk.record("agents_back_seconds", round(float(graceful["agents_back_s"]), 2))

# %% [markdown]
# ## 5. Crash failover: grace period 0
# Now the leader dies without releasing anything. Another replica may take the Lease only once it has
# seen no renewal for a whole lease duration (15s), judged by its own clock. But the StatefulSet
# recreates the pod under the *same name* within seconds, and a replica may always renew a Lease
# that names itself: often the new pod of the same name leads first. That is safe here because the
# old process is dead; it is also why a StatefulSet pod must never be force-deleted while its node
# may still run it.

# %%
lab.wait_for(leader_ready, timeout=rollout_timeout)
lk.show(f"kubectl delete pod {lab.lease_holder(lease_name)} --grace-period=0 --force")
crash = measure(grace_period=0)
print(crash)
lk.check(crash["leader_s"] <= 15 + 2 + 1, f"{crash['new']} leads {crash['leader_s']:.1f}s after the crash (lease 15s + retry 2s)")
lk.record("crash_failover_seconds", round(float(crash["leader_s"]), 2))
lk.record("crash_agents_back_seconds", round(float(crash["agents_back_s"]), 2))
lk.check(lab.lease(lease_name).get("leaseTransitions", 0) >= 1, "the Lease counts the transitions")

# %% [markdown]
# ### The two failovers, as pictures
# Each pod's readiness (light) and whether it holds the Lease (dark), sampled every quarter second
# from the first delete; beside it the three times of each failover.

# %%
failover.wait_fine(agents_back, "the agents to settle", agents_timeout)
watch.__exit__(None, None, None)
failover.plot_timeline(watch.frame(), watch.marks);
timings = pd.DataFrame([graceful, crash], index=["graceful delete", "crash (grace 0)"])
display(timings[["old", "new", "leader_s", "serving_s", "agents_back_s"]].round(2))
failover.plot_failover_times(timings);

# %% [markdown]
# ## 6. Upgrading on SQLite: drain, a rolling restart that stalls, resume
# The upgrade procedure is **drain** every replica (new MeshJob claims get nothing, running jobs go
# on), **restart** the replicas one at a time onto the new version, **resume**. Two more real
# agents hold work across it: `lab-counter` provides the `task=True` tool `count`, `lab-dispatcher`
# submits it as a MeshJob. Drain is per replica and in memory, so it goes to each pod directly;
# `/admin/drain` follows `AUTH_TOKEN` (meshctl takes it as the URL's password).

# %%
from labkit import upgrade

token = upgrade.admin_token(lab)  # AUTH_TOKEN from secret/mcp-registry-secret
counter, dispatcher = (start_agent(lk.NOTEBOOKS / "agents" / f"{name}.py", url, agent_logs) for name in ("counter", "dispatcher"))
running_job = upgrade.submit_count(dispatcher, agents_timeout, steps=job_steps, delay=job_delay)
before = upgrade.wait_job(url, running_job, lambda j: bool(j and j.get("progress")), "the job to report progress", agents_timeout)
leader_before = lab.lease_holder(lease_name)
print(f"running job {running_job}: {before['progress']:.0%} done on the leader {leader_before}")

lk.show("kubectl port-forward pod/mcp-mesh-registry-0 8000 &  # then, for each pod in turn:\n"
        "meshctl registry drain --registry-url http://admin:$AUTH_TOKEN@localhost:8000")
started = time.monotonic()
drained = upgrade.set_drain(lab, True, token)
print(drained)
lk.check(all(state["draining"] for state in drained.values()), f"all {len(drained)} replicas draining")
queued_job = upgrade.submit_count(dispatcher, agents_timeout, steps=2, delay=0.1)
time.sleep(claim_wait)
lk.check(upgrade.job_state(url, queued_job)["owner_instance_id"] is None, f"while drained a new job is queued, not claimed, after {claim_wait}s")

# %% [markdown]
# **The rolling restart stalls, by design.** The controller replaces the highest ordinal first and
# then waits for the new pod to be *ready* before it touches the next one (with `Parallel` pod
# management too: that policy only speeds up scaling). On SQLite a follower is never ready, so the
# new pod waits as a follower and the restart goes no further; `kubectl rollout status` would wait
# forever. (On PostgreSQL every replica is ready and the same command completes: lesson 07.)

# %%
def all_agents_registered() -> bool | None:
    """Every agent of this lesson listed by the registry behind the Service; None while none answers."""
    try:
        with lk.RegistryClient(url) as client:
            listed = {a.get("endpoint", "").rstrip("/") for a in client.agents()}
    except Exception:
        return None
    return {agent.endpoint for agent in [*agents, counter, dispatcher]} <= listed


agents_seen = upgrade.Availability(all_agents_registered).__enter__()
lk.show("kubectl rollout restart statefulset/mcp-mesh-registry")
print(upgrade.rollout_restart(lab, STATEFULSET))
stall = upgrade.watch_stall(lab, STATEFULSET, stall_seconds)
print(stall)
lk.check(bool(stall.old) and lab.get(STATEFULSET)["status"].get("updatedReplicas", 0) < replicas,
         f"after {stall_seconds}s the controller has replaced {stall.replaced} and waits; {stall.old} still run the old revision")

# %% [markdown]
# So the operator finishes it: switch the StatefulSet to `OnDelete` (the controller then recreates
# a deleted pod at the new revision and waits for nothing), delete the pods still on the old
# revision, **followers first, the leader last** so that leadership moves once, and switch back.

# %%
lk.show("kubectl patch statefulset mcp-mesh-registry -p '{\"spec\":{\"updateStrategy\":{\"type\":\"OnDelete\"}}}'\n"
        "kubectl delete pod <each old follower>; kubectl delete pod <the leader>\n"
        "kubectl patch statefulset mcp-mesh-registry -p '{\"spec\":{\"updateStrategy\":{\"type\":\"RollingUpdate\"}}}'")
deleted = upgrade.finish_by_hand(lab, STATEFULSET, lease_name, rollout_timeout)
lab.wait_for(leader_ready, timeout=rollout_timeout)
restart_seconds = time.monotonic() - started
revisions = upgrade.pod_revisions(lab, SELECTOR)
print(f"deleted in order {deleted}; revisions now {revisions}; leader {lab.lease_holder(lease_name)}")
lk.check(set(revisions.values()) == {upgrade.update_revision(lab, STATEFULSET)}, f"every pod runs the new revision, {restart_seconds:.1f}s after the drain")

lk.show("meshctl registry resume --registry-url http://admin:$AUTH_TOKEN@localhost:8000  # for each pod")
resumed = upgrade.set_drain(lab, False, token)
drain_to_resume = time.monotonic() - started
lk.check(not any(state["draining"] for state in resumed.values()), "every replica resumed (a restarted pod starts undrained anyway)")
failover.wait_fine(lambda: bool(all_agents_registered()), "the agents to register on the new leader", agents_timeout)
agents_seen.__exit__(None, None, None)
fresh_job = upgrade.submit_count(dispatcher, agents_timeout, steps=2, delay=0.1)
fresh = upgrade.wait_job(url, fresh_job, lambda j: bool(j and j.get("status") == "completed"), "a new job to be claimed and done", agents_timeout)
lk.check(fresh["status"] == "completed", "after resume claims work again: a new job ran and completed")

# %% [markdown]
# What the agents and the jobs saw: the new leader serves *its own* file, so the agents were missing
# until their next heartbeat got 410 and they registered again, and the jobs the old leader held
# (the running one and the one queued while drained) are unknown to it, unless the Lease went back
# to a pod with the old leader's claim.

# %%
outcome = {name: upgrade.job_state(url, job_id) for name, job_id in (("running", running_job), ("queued", queued_job))}
seen = {name: (job or {}).get("status", "unknown to the new leader") for name, job in outcome.items()}
print(f"leader {leader_before} -> {lab.lease_holder(lease_name)}; drain to resume {drain_to_resume:.1f}s; "
      f"agents missing {agents_seen.down_seconds:.1f}s ({agents_seen.outages} times), registry not answering {agents_seen.unknown_seconds:.1f}s; jobs: {seen}")
lk.record("sqlite_restart_stalled", bool(stall.old))
lk.record("sqlite_drain_to_resume_seconds", round(drain_to_resume, 1))
lk.record("sqlite_agents_missing_seconds", round(agents_seen.down_seconds, 2))
lk.record("sqlite_running_job_after_upgrade", seen["running"])
lk.record("sqlite_claims_after_resume", fresh["status"] == "completed")

# %%
for agent in [*agents, counter, dispatcher]:
    agent.stop()
forward.__exit__(None, None, None)

# %% [markdown]
# ## 7. Troubleshooting: "multiple registry instances think they're leader"
# The guide's cause is "network partitions or timeout issues", and its fix longer timings. A leader
# that stalls (a long GC pause, CPU throttled at its 500m limit, a slow API server) cannot renew; when
# the stall outlasts the renew deadline, it steps down and another replica takes over. With timings
# far too tight (2s / 1.5s / 0.5s) every short hiccup is a leader change; with the guide's 30s / 20s
# the same hiccups pass unnoticed. Where the pods' processes run on this machine (the local cluster,
# or kind on Linux as root) the lesson pauses the leader itself (SIGSTOP, then SIGCONT) for a few
# seconds; on kind and minikube's docker driver it does so inside the node's container (`docker exec`);
# elsewhere it skips this part.


# %%
def redeploy(lease: str, renew: str, retry: str) -> None:
    """Re-create the StatefulSet with these timings set through env (the claims stay)."""
    statefulset = yaml.safe_load((lk.MANIFESTS / "registry-ha.yaml").read_text())
    statefulset["spec"]["replicas"] = replicas
    env = statefulset["spec"]["template"]["spec"]["containers"][0]["env"]
    env += [
        {"name": "LEADER_ELECTION_LEASE_DURATION", "value": lease},
        {"name": "LEADER_ELECTION_RENEW_DEADLINE", "value": renew},
        {"name": "LEADER_ELECTION_RETRY_PERIOD", "value": retry},
    ]
    lab.delete(STATEFULSET)
    lab.wait_for(SELECTOR, "delete", timeout=rollout_timeout)
    lab.apply(statefulset, images=IMAGES, namespace=namespace)
    lab.wait_for(leader_ready, timeout=rollout_timeout)


if failover.find_registry_process(lab, lab.lease_holder(lease_name)) is not None:
    redeploy(*tight_timings)
    with failover.LeaseWatch(lab, lease_name, SELECTOR) as tight_watch:  # the leader changes, as a picture
        flaps_tight = failover.stall_the_leader(lab, lease_name, hiccups, hiccup_seconds)
    print(f"timings {'/'.join(tight_timings)}: {hiccups} hiccups of {hiccup_seconds}s -> {flaps_tight} leader changes")
    failover.plot_timeline(tight_watch.frame()).axes[0].set_title(f"Lease holder with timings {'/'.join(tight_timings)}: each hiccup moves it");
    lk.check(flaps_tight >= 1, f"too-tight timings flap: leaseTransitions rose by {flaps_tight}")
    lk.check(not failover.leaders_at_once(lab, SELECTOR), "even while flapping, no two replicas led at the same time (from their logs)")
    redeploy(*fixed_timings)
    flaps_fixed = failover.stall_the_leader(lab, lease_name, hiccups, hiccup_seconds)
    print(f"timings {'/'.join(fixed_timings)}: {hiccups} hiccups of {hiccup_seconds}s -> {flaps_fixed} leader changes")
    lk.check(flaps_fixed == 0, "the guide's fix (30s/20s) rides the same hiccups out: no leader change")
    lk.record("flap_transitions_tight", int(flaps_tight))
    lk.record("flap_transitions_guide_fix", int(flaps_fixed))
else:
    print("This part pauses the leader's process, which this machine cannot reach (not on it, nor in a docker node): skipped.")

# %% [markdown]
# ## 8. Versus PostgreSQL
# With a shared database every replica is ready and serves the same data, so a failover only moves
# the health monitor: agents keep their registrations. Lesson **07-production-postgres** deploys it
# and shows all three replicas ready.

# %% [markdown]
# ## Summary
# - the kit's `registry-ha.yaml` applies on its own; over the dev StatefulSet it needs a delete first;
# - three pods, one Lease holder, and on SQLite only that holder ready;
# - a deleted leader hands over in about a retry period because it releases the Lease on SIGTERM; a
#   crashed one within a lease duration plus a retry period (often sooner: its new pod renews its
#   own Lease);
# - on SQLite the new leader serves *its own* file: agents get 410 on their next heartbeat and
#   register again, measured above;
# - an upgrade is drain (per pod), restart, resume; on SQLite `kubectl rollout restart` stalls at
#   the first follower (never ready), so the operator deletes the old pods, followers first and the
#   leader last; the agents register again on the new leader and its file does not know the old
#   leader's jobs, measured above;
# - timings that leave no room for a hiccup make leadership flap; the guide's 30s / 20s do not.
#
# For replicas that share one set of data, see **07-production-postgres**.

# %% [markdown]
# ## Exercise: the guide's "Try it": scale to 3 replicas and observe leader election
# The cell below brings the registry down to one replica. Scale it back to three (`kubectl scale
# statefulset mcp-mesh-registry --replicas=3` in the terminal, or `lab.scale(...)`), watch the Lease
# (`kubectl get lease mcp-mesh-registry-leader -w`), and put the pod that leads in `leader_now`.

# %%
lab.scale(STATEFULSET, 1)
lab.wait_for(lambda: len(lab.pods(SELECTOR)) == 1 and bool(lab.lease_holder(lease_name)), timeout=rollout_timeout)
leader_now = None  # your answer: the pod that holds the Lease once three replicas run

# %% tags=["solution"]
if solutions:
    lab.scale(STATEFULSET, 3)
    lab.wait_for(leader_ready, timeout=rollout_timeout)
    leader_now = lab.lease_holder(lease_name)

# %%
with lk.exercise("scale to 3 replicas and observe leader election", required=solutions):
    pods_now = lab.pods(SELECTOR)
    lk.check(lab.get(STATEFULSET)["spec"]["replicas"] == 3 and (pods_now["phase"] == "Running").sum() == 3,
             "three registry pods run", "kubectl scale statefulset mcp-mesh-registry --replicas=3")
    lk.check(leader_now == lab.lease_holder(lease_name), f"leader_now names the Lease holder",
             "kubectl get lease mcp-mesh-registry-leader shows the HOLDER")

# %% [markdown]
# ## Cleanup
# Back to the one-replica dev registry; the followers' claims go too.

# %%
if cleanup:
    lab.delete(STATEFULSET)
    for ordinal in range(1, replicas):
        lab.delete(f"pvc/data-mcp-mesh-registry-{ordinal}")
    lab.apply(lk.MANIFESTS / "registry-statefulset-dev.yaml", images=IMAGES, namespace=namespace)
    lab.wait_rollout(STATEFULSET, timeout=rollout_timeout)
    lk.check(lab.get(STATEFULSET)["status"].get("readyReplicas") == 1, "back to one ready replica; follower claims removed")
