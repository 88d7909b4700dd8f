# %% [markdown]
# # 03 · Verify the registry, and run real MCP Mesh agents against it
#
# *Takes about 78 s on the local cluster when run top to bottom (measured on 2 cores), plus your time to read, type and do the exercise.*
#
# The guide's step 4, then further: the registry on the cluster serves real agents from the
# `mcp-mesh` package running on this machine.
#
# **What you will learn**
# - reaching a pod from your machine with a port-forward;
# - the registry's endpoints: health (liveness), ready (readiness), metrics, agents, capabilities;
# - the guide's registration call, and the registry's log;
# - what "stable identity and storage" means: delete pod 0 and it comes back with the same name and
#   the same data;
# - a provider and a consumer agent: the consumer's dependency resolved to the provider, the
#   provider killed, and the registry marking it unhealthy after `AGENT_TIMEOUT`.

# %% tags=["parameters"]
cluster = "local"
namespace = "mcp-mesh"
image = "mcp-mesh/registry:dev"
rollout_timeout = 180
agent_timeout_setting = "10s"  # for the agent step: silence after which an agent is unhealthy (guide: 60s)
health_check_interval_setting = "2s"  # how often the health monitor of the registry looks (guide: 30s)
agent_start_timeout = 180  # importing mcp-mesh and starting an agent takes a while on a busy machine
cleanup = True  # stop the agents and restore the configuration of the guide
solutions = False  # True: the exercises' solutions run too (the test suite does)

# %%
import contextlib
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

import labkit as lk

lab = lk.connect(cluster=cluster, namespace=namespace)
STATEFULSET = "statefulset/mcp-mesh-registry"
statefulset = lk.setup_dev_registry(lab, image, timeout=rollout_timeout)  # lessons 00-02's registry (idempotent)
lk.check(statefulset["status"].get("readyReplicas") == 1, "the dev registry is deployed and ready")


def restart_pod(pod: str) -> str:
    """Delete a StatefulSet pod and wait for its replacement (same name, new UID) to be Ready."""

    def uid() -> str | None:
        try:
            return lab.get(pod)["metadata"]["uid"]
        except lk.ObjectNotFound:
            return None

    old = uid()
    lab.delete(pod, wait=False)  # waiting for "gone" would race the controller recreating the name
    lab.wait_for(lambda: uid() not in (None, old), timeout=rollout_timeout)
    lab.wait_for(pod, "Ready", timeout=rollout_timeout)
    return old

# %% [markdown]
# ## 1. Port-forward
# The guide's check, as you type it in a terminal: `kubectl port-forward` listens on your machine's
# port 8000 and carries each connection through the API server to a pod behind the Service; `curl`
# then talks to the registry as if it ran here. labkit runs the same two commands now.

# %%
lk.try_port_forward_in_terminal(lab, "svc/mcp-mesh-registry", 8000, "/health", expect=r'"status":\s*"healthy"')

# %% [markdown]
# From Python, `lab.port_forward` does the same as a context manager: it yields a URL and stops the
# forward when the block ends (each new connection goes to a ready pod of the Service, so the URL
# survives a failover). The lesson keeps it open across cells in an `ExitStack`.

# %%
lk.show("kubectl port-forward svc/mcp-mesh-registry 8000:8000 &")
forwards = contextlib.ExitStack()
url = forwards.enter_context(lab.port_forward("svc/mcp-mesh-registry", 8000))
reg = lk.RegistryClient(url)
print(url)

# %% [markdown]
# ## 2. Health, readiness and metrics
# `/health` is the liveness probe: static, it never touches the database, so a slow database cannot
# get the pod killed. `/ready` is the readiness probe: database reachable (and, with leader election
# on SQLite, this pod the leader).

# %%
lk.show(f"curl {url}/health")
health = reg.health()
print(health)
lk.check(health["status"] == "healthy", "GET /health says healthy")
lk.check(reg.ready(), "GET /ready says ready")
lk.show(f"curl {url}/metrics | grep mcp_")
metrics = reg.metrics_text()
mcp_lines = [line for line in metrics.splitlines() if line.startswith("mcp_registry_")]
print("\n".join(mcp_lines[:12]))
lk.check(any(line.startswith("mcp_registry_requests_total") for line in mcp_lines), "Prometheus metrics include mcp_registry_requests_total")

# %% [markdown]
# ## 3. The guide's registration, agents and capabilities

# %%
lk.show(f"curl -X POST {url}/agents -d '{{\"id\": \"test-agent-lab\", \"capabilities\": [\"test\"], \"endpoint\": \"http://agent-lab:8080\"}}'")
reg.register("test-agent-lab", ["test"], "http://agent-lab:8080")
lk.show(f"curl {url}/agents")
agent_ids = [a["id"] for a in reg.agents()]
print(agent_ids)
lk.check("test-agent-lab" in agent_ids, "the registered agent is listed")
lk.show(f"curl {url}/capabilities")
capabilities = reg.capabilities()
print(capabilities)
lk.check("test" in str(capabilities), "its capability `test` is listed with its provider")
lk.record("agents_registered", len(agent_ids))

# %%
lk.show("kubectl logs mcp-mesh-registry-0 --tail=15")
log = lab.logs("mcp-mesh-registry-0", tail=15)
print(log)
lk.check(log.strip() != "", "the registry writes one-line structured logs")
lk.show("kubectl logs -f -l app.kubernetes.io/name=mcp-mesh-registry --prefix   # follows every pod; Ctrl-C ends it")

# %% [markdown]
# The guide's tip `kubectl logs -f statefulset/mcp-mesh-registry --all-containers=true` streams **one**
# pod of the StatefulSet (kubectl picks one), not all of them. To follow every replica, select the pods
# by label and let kubectl prefix each line with its pod: the command shown above.

# %% [markdown]
# ## Debugging inside the pod
# The guide's debug steps: a shell in the registry's container with `kubectl exec -it
# mcp-mesh-registry-0 -- sh`, then `sqlite3` on its database, `wget` to its own health endpoint
# (`localhost` inside a pod is the pod) and `df` on its volume. Each is one command you can also type
# directly after `kubectl exec mcp-mesh-registry-0 --`:

# %%
lk.show("kubectl exec -it mcp-mesh-registry-0 -- sh   # an interactive shell: exit (or Ctrl-D) leaves it")
rows = lk.try_in_terminal(lab, 'kubectl exec mcp-mesh-registry-0 -- sqlite3 /data/registry.db "SELECT agent_id, status FROM agents"', expect=r"^test-agent-lab\|healthy")
inside = lk.try_in_terminal(lab, "kubectl exec mcp-mesh-registry-0 -- wget -q -O- http://localhost:8000/health", expect=r'"status":\s*"healthy"')
disk = lk.try_in_terminal(lab, "kubectl exec mcp-mesh-registry-0 -- df -h /data", expect=r"/data$")
lk.record("debug_steps_in_pod", 3)

# %% [markdown]
# ## 4. Stable identity and storage
# This step also switches the registry to short health timeouts for the agent step below: settings
# are read at start, so the new ConfigMap takes effect when the pod restarts. Deleting pod 0 does
# both: the StatefulSet recreates it **with the same name and the same claim**, so the agent
# registered above is still there.

# %%
config = yaml.safe_load_all((lk.MANIFESTS / "registry-config.yaml").read_text())
config = [doc for doc in config if doc["kind"] == "ConfigMap"][0]
config["data"].update({"AGENT_TIMEOUT": agent_timeout_setting, "HEALTH_CHECK_INTERVAL": health_check_interval_setting})
lk.show(f"kubectl patch configmap mcp-registry-config -p '{{\"data\": {{\"AGENT_TIMEOUT\": \"{agent_timeout_setting}\", \"HEALTH_CHECK_INTERVAL\": \"{health_check_interval_setting}\"}}}}'")
lab.apply(config, namespace=namespace)
forwards.close()  # the forward ends with the pod
lk.show("kubectl delete pod mcp-mesh-registry-0")
old_uid = restart_pod("pod/mcp-mesh-registry-0")
new_pod = lab.get("pod/mcp-mesh-registry-0")
lk.check(new_pod["metadata"]["uid"] != old_uid, "pod 0 was replaced by a new pod (new UID) with the same name")
volumes = [v["persistentVolumeClaim"]["claimName"] for v in new_pod["spec"]["volumes"] if "persistentVolumeClaim" in v]
lk.check(volumes == ["data-mcp-mesh-registry-0"], "…and the same claim, data-mcp-mesh-registry-0")

# %%
forwards = contextlib.ExitStack()
url = forwards.enter_context(lab.port_forward("svc/mcp-mesh-registry", 8000))
reg = lk.RegistryClient(url)
survived = "test-agent-lab" in [a["id"] for a in reg.agents()]
lk.check(survived, "the agent registered before the restart is still there: the data lives on the claim")
lk.record("data_survived_restart", survived)

# %% [markdown]
# ## 5. Real MCP Mesh agents
# `notebooks/agents/provider.py` offers the capability `greeting`; `consumer.py` has a tool that
# depends on it. Both are ordinary `mcp-mesh` agents: they register through `POST /heartbeat`, keep
# alive with `HEAD /heartbeat/{id}`, and the registry tells the consumer where the provider is.

# %%
from labkit.agents import MeshAgent, call_tool, start_agent

agent_logs = Path(tempfile.mkdtemp(prefix="lab-agents-"))
provider = start_agent(lk.NOTEBOOKS / "agents" / "provider.py", url, agent_logs)
consumer = start_agent(lk.NOTEBOOKS / "agents" / "consumer.py", url, agent_logs)


def registered(agent: MeshAgent) -> dict:
    """The registry's entry for this agent process (matched by its endpoint: names repeat across runs)."""
    return next((a for a in reg.agents() if a.get("endpoint", "").rstrip("/") == agent.endpoint), {})


def both_healthy() -> bool:
    return registered(provider).get("status") == "healthy" and registered(consumer).get("status") == "healthy"


lab.wait_for(both_healthy, timeout=agent_start_timeout)
display(pd.DataFrame([registered(provider), registered(consumer)])[["id", "name", "status", "endpoint"]])
lk.check(both_healthy(), "provider and consumer registered and healthy")

# %%
def resolution() -> dict:
    """How the registry resolved the consumer's dependency on `greeting` (empty until it has)."""
    rows = registered(consumer).get("dependency_resolutions") or []
    return next((row for row in rows if row.get("capability") == "greeting"), {})


lab.wait_for(lambda: resolution().get("status") == "available", timeout=agent_start_timeout)
print(resolution())
lk.check(resolution().get("provider_agent_id") == registered(provider)["id"], "the registry resolved the consumer's `greeting` to the provider")
lk.check(registered(consumer).get("dependencies_resolved", 0) >= 1, "the consumer counts one resolved dependency")
lk.record("mesh_dependency_resolved", True)

# %% [markdown]
# The consumer now calls the provider directly, through the proxy the mesh runtime injected. Its
# `welcome` tool answers with the provider's greeting (any MCP client can call it):

# %%
def consumer_answer() -> str:
    return call_tool(consumer, "welcome", name="lab")


try:
    answer = consumer_answer()
except Exception as exc:  # shown, not fatal: the wiring above is what the registry is responsible for
    answer = f"(no answer: {type(exc).__name__}: {exc})"
print(answer)
lk.record("mesh_call_answer", answer[:120])

# %% [markdown]
# ## 6. The provider dies
# `SIGKILL` gives the provider no chance to unregister, as a crashed pod or a lost node would. Its
# heartbeats stop; after `AGENT_TIMEOUT` the registry's health monitor marks it unhealthy, and the
# consumer learns it on its next heartbeat.

# %%
provider.kill()
killed_at = time.monotonic()


def provider_unhealthy() -> bool:
    return registered(provider).get("status") == "unhealthy"


lab.wait_for(provider_unhealthy, timeout=agent_start_timeout)
unhealthy_after = time.monotonic() - killed_at
print(f"provider marked unhealthy {unhealthy_after:.1f}s after it was killed (AGENT_TIMEOUT={agent_timeout_setting}, interval {health_check_interval_setting})")
lk.check(provider_unhealthy(), "the registry marked the killed provider unhealthy")
lk.record("provider_unhealthy_seconds", round(unhealthy_after, 2))

# %%
lab.wait_for(lambda: resolution().get("status") != "available", timeout=agent_start_timeout)
print(resolution())
lk.check(resolution().get("status") in ("unavailable", "unresolved"), "the consumer's dependency is no longer available: it will not be sent to a dead agent")

# %% [markdown]
# ## Summary
# - through a port-forward (kubectl's, then labkit's): healthy, ready, metrics, agents and capabilities;
# - inside the pod: the agents table with sqlite3, the health endpoint on localhost, the volume's space;
# - pod 0 came back with the same name and claim, and its data;
# - real agents registered, the dependency resolved, and a killed provider was marked unhealthy
#   within `AGENT_TIMEOUT` plus one monitor interval, and withdrawn from the consumer.

# %% [markdown]
# ## Exercise: mark the pod you verified
# In the terminal, put the label `lab-step=verify` on pod 0 (`kubectl label pod mcp-mesh-registry-0
# lab-step=verify`), then list the registry's pods with their labels (`kubectl get pods --show-labels`).

# %%
# your turn: in the terminal, or here

# %% tags=["solution"]
if solutions:
    lab.kubectl("label", "pod", "mcp-mesh-registry-0", "lab-step=verify", "--overwrite")

# %%
with lk.exercise("mark the pod you verified", required=solutions):
    labels = lab.get("pod/mcp-mesh-registry-0")["metadata"].get("labels") or {}
    lk.check(labels.get("lab-step") == "verify", "pod/mcp-mesh-registry-0 carries lab-step=verify",
             "kubectl label pod mcp-mesh-registry-0 lab-step=verify")

# %% [markdown]
# ## Cleanup
# Stop the consumer, close the forward, and put the guide's timeouts back (pod 0 restarts to read them).

# %%
consumer.stop()
provider.kill()
forwards.close()
if cleanup:
    lab.apply(lk.MANIFESTS / "registry-config.yaml", namespace=namespace)
    restart_pod("pod/mcp-mesh-registry-0")
    lk.check(lab.get("configmap/mcp-registry-config")["data"]["AGENT_TIMEOUT"] == "60s", "agents stopped; the guide's configuration is back")
