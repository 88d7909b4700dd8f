# %% [markdown]
# # 08 · Backup and restore
#
# *Takes about 14 s on the local cluster when run top to bottom (measured on 2 cores), plus your time to read, type and do the exercise.*
#
# The guide lists "backup data" as a best practice and backup/restore as a TODO. The registry has an
# admin API for it: `/admin/backup` returns an encrypted snapshot (AES-256-GCM with `ENCRYPTION_KEY`),
# `/admin/restore` loads one; both need `AUTH_TOKEN` as a bearer token.
#
# **What you will learn**
# - reading the token from the Secret and calling the admin API with it (and without: 401);
# - that the snapshot is encrypted: the agents' names do not appear in it;
# - restoring into a fresh registry with its own empty claim, and checking it has the same agents;
# - that a damaged snapshot is refused and changes nothing.

# %% tags=["parameters"]
cluster = "local"
namespace = "mcp-mesh"
image = "mcp-mesh/registry:dev"
rollout_timeout = 180
agents = 5  # agents registered before the backup
cleanup = True  # remove the restore registry and the agents of this lesson
solutions = False  # True: the exercises' solutions run too (the test suite does)

# %%
import base64
import contextlib


import labkit as lk

lab = lk.connect(cluster=cluster, namespace=namespace)
STATEFULSET = "statefulset/mcp-mesh-registry"
IMAGES = {"mcp-mesh/registry": image}
lk.setup_dev_registry(lab, image, timeout=rollout_timeout)  # lessons 00-02's registry (idempotent)
forwards = contextlib.ExitStack()
url = forwards.enter_context(lab.port_forward("svc/mcp-mesh-registry", 8000))
lk.check(lk.RegistryClient(url).ready(), f"the registry is ready at {url}")

# %% [markdown]
# ## 1. Some data worth keeping

# %%
source = lk.RegistryClient(url)
names = [f"backup-agent-{i}" for i in range(agents)]
for i, agent_id in enumerate(names):
    source.register(agent_id, ["backup-demo", f"shard-{i}"], f"http://{agent_id}:8080")
before = sorted(a["id"] for a in source.agents())
lk.check(set(names) <= set(before), f"{len(before)} agents registered in the source registry")

# %% [markdown]
# ## 2. The token, from the Secret
# `/admin/*` refuses callers without it.

# %%
token = base64.b64decode(lab.get("secret/mcp-registry-secret")["data"]["AUTH_TOKEN"]).decode()
lk.show(f"curl {url}/admin/backup   # without a token")
lk.expect_failure(source.backup, match="401")
admin = lk.RegistryClient(url, token=token)

# %% [markdown]
# ## 3. The encrypted snapshot

# %%
lk.show(f"curl -H 'Authorization: Bearer $AUTH_TOKEN' {url}/admin/backup -o registry.backup")
blob = admin.backup()
print(f"{len(blob)} bytes")
lk.check(len(blob) > 0 and not any(name.encode() in blob for name in names), "the snapshot is not empty and no agent name is readable in it")
lk.record("backup_bytes", len(blob))

# %% [markdown]
# ## 4. A fresh registry to restore into
# A second StatefulSet made from the dev one: its own name, labels and (empty) claim, the same
# ConfigMap and Secret (so the same key). Leader election is off for it: it would otherwise compete
# for the main registry's Lease.

# %%
from labkit.setups import restore_registry

restore_svc, restore_sts = restore_registry("mcp-mesh-registry-restore")
lab.apply([restore_svc, restore_sts], images=IMAGES, namespace=namespace)
lab.wait_rollout("statefulset/mcp-mesh-registry-restore", timeout=rollout_timeout)
target_url = forwards.enter_context(lab.port_forward("pod/mcp-mesh-registry-restore-0", 8000))
target = lk.RegistryClient(target_url, token=token)
lk.check(not any(a["id"].startswith("backup-agent-") for a in target.agents()), "the fresh registry starts empty")

# %% [markdown]
# ## 5. A damaged snapshot is refused
# Authenticated encryption: flipping one byte makes the whole snapshot invalid, and nothing changes.

# %%
damaged = blob[:-1] + bytes([blob[-1] ^ 0x01])
lk.expect_failure(target.restore, damaged, match="4\\d\\d")
lk.check(not any(a["id"].startswith("backup-agent-") for a in target.agents()), "the refused restore changed nothing")

# %% [markdown]
# ## 6. Restore and verify

# %%
lk.show(f"curl -X POST -H 'Authorization: Bearer $AUTH_TOKEN' --data-binary @registry.backup {target_url}/admin/restore")
result = target.restore(blob)
print(result)
after = sorted(a["id"] for a in target.agents())
lk.check(after == before, f"the restored registry lists the same {len(after)} agents")
lk.record("restored_agents", len(after))
lk.record("backup_restored_identical", after == before)

# %% [markdown]
# ## Summary
# - the admin API needs the token; the snapshot is encrypted and authenticated;
# - restoring into an empty registry reproduces the agents; a damaged snapshot is refused.
#
# Keep snapshots somewhere other than the cluster, and the key somewhere other than the snapshots.

# %% [markdown]
# ## Exercise: mark the restored registry
# In the terminal, label the restore registry's pod `lab-step=restore`
# (`kubectl label pod mcp-mesh-registry-restore-0 lab-step=restore`) and list pods by that label
# (`kubectl get pods -l lab-step=restore`).

# %%
# your turn: in the terminal, or here

# %% tags=["solution"]
if solutions:
    lab.kubectl("label", "pod", "mcp-mesh-registry-restore-0", "lab-step=restore", "--overwrite")

# %%
with lk.exercise("mark the restored registry", required=solutions):
    labels = lab.get("pod/mcp-mesh-registry-restore-0")["metadata"].get("labels") or {}
    lk.check(labels.get("lab-step") == "restore", "the restore registry's pod carries lab-step=restore",
             "kubectl label pod mcp-mesh-registry-restore-0 lab-step=restore")

# %% [markdown]
# ## Cleanup

# %%
forwards.close()
if cleanup:
    lab.delete([restore_svc, restore_sts], namespace=namespace)
    lab.delete("pvc/data-mcp-mesh-registry-restore-0")
    with lab.port_forward("svc/mcp-mesh-registry", 8000) as url:
        reg = lk.RegistryClient(url)
        for agent_id in names:
            reg.unregister(agent_id)
        left = [a["id"] for a in reg.agents() if a["id"].startswith("backup-agent-") and a["status"] == "healthy"]
        lk.check(not left, "restore registry removed; the lesson's agents unregistered")
