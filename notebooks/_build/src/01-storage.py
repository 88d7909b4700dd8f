# %% [markdown]
# # 01 · Storage and configuration
#
# *Takes about 19 s on the local cluster when run top to bottom (measured on 2 cores), plus your time to read, type and do the exercise.*
#
# The guide's step 2, and the storage the registry's SQLite file lives on.
#
# **What you will learn**
# - storage classes, the default one, and their *binding mode*: `Immediate` binds a claim as soon as
#   it is created, `WaitForFirstConsumer` only when a pod that uses it is scheduled (so a Pending
#   claim is not always a problem);
# - the registry's settings as a ConfigMap and its credentials as a Secret (`registry-config.yaml`);
# - a claim with an explicit storage class (`registry-data-pvc.yaml`) and a pod writing to it.

# %% tags=["parameters"]
cluster = "local"
namespace = "mcp-mesh"
image = "mcp-mesh/registry:dev"
bind_timeout = 120  # seconds for the claim to bind once a pod uses it
cleanup = True  # remove the claim and test pod of this lesson (the configuration stays for the next lessons)
solutions = False  # True: the exercises' solutions run too (the test suite does)

# %%
import base64

import labkit as lk

lab = lk.connect(cluster=cluster, namespace=namespace)
lab.apply(lk.MANIFESTS / "namespace-rbac.yaml", namespace=namespace)  # set-up: idempotent, so this lesson also runs alone
lk.check(lab.exists(f"namespace/{namespace}"), f"connected to {lab.context}, namespace {namespace} ready")

# %% [markdown]
# ## 1. Storage classes and binding modes

# %%
lk.show("kubectl get storageclass")
classes = lab.storage_classes()
display(classes)
standard = classes[classes["name"] == "standard"]
lk.check(len(standard) == 1, "storage class `standard` exists (the one registry-data-pvc.yaml names)",
         "use a class from the table above in registry-data-pvc.yaml")
binding_mode = standard.iloc[0]["binding_mode"]
print(f"`standard` binds claims: {binding_mode}")
lk.record("standard_binding_mode", binding_mode)

# %% [markdown]
# ## 2. The configuration: a ConfigMap and a Secret
# The StatefulSet reads both with `envFrom`, so every key becomes an environment variable of the
# registry. A value the registry cannot use (say `AGENT_TIMEOUT: soon`) stops it at start with exit
# status 2 and a log line naming the variable: lesson 05 shows it.

# %%
lk.show("kubectl apply -f manifests/registry-config.yaml")
applied = lab.apply(lk.MANIFESTS / "registry-config.yaml", namespace=namespace)
lk.check(set(applied) == {"configmap/mcp-registry-config", "secret/mcp-registry-secret"}, f"applied {applied}")

# %%
lk.show("kubectl get configmap mcp-registry-config -o yaml")
config = lab.get("configmap/mcp-registry-config")["data"]
display(config)
lk.check(config["DATABASE_TYPE"] == "sqlite" and config["DATABASE_PATH"] == "/data/registry.db",
         "SQLite on /data/registry.db: the file lives on the pod's claim")
lk.check(config["ENABLE_LEADER_ELECTION"] == "true", "leader election is on (it matters from lesson 04)")
lk.record("config_keys", len(config))

# %% [markdown]
# The Secret's values are stored base64-encoded (encoded, not encrypted: restrict who may read
# secrets). The backup key must be exactly 32 bytes (AES-256).

# %%
secret = lab.get("secret/mcp-registry-secret")
keys = sorted(secret["data"])
print("keys:", keys)
key_bytes = len(base64.b64decode(secret["data"]["ENCRYPTION_KEY"]))
lk.check({"AUTH_TOKEN", "ENCRYPTION_KEY"} <= set(keys), "the Secret holds AUTH_TOKEN and ENCRYPTION_KEY")
lk.check(key_bytes == 32, f"ENCRYPTION_KEY is {key_bytes} bytes", "the registry exits 2 unless it is exactly 32")

# %% [markdown]
# ## 3. A claim with an explicit storage class
# `registry-data-pvc.yaml` is the guide's fix for pitfall 1: it names the class instead of hoping for
# a default. With `WaitForFirstConsumer` it stays Pending until a pod uses it, and that is fine.

# %%
# An earlier run that stopped before its cleanup left the claim Bound: start from a new one.
lab.delete("pod/registry-data-writer")  # it holds the claim, so it goes first
lab.delete("pvc/registry-data")  # waits until the claim is gone (its volume is deleted with it)
lk.show("kubectl apply -f manifests/registry-data-pvc.yaml && kubectl get pvc registry-data")
lab.apply(lk.MANIFESTS / "registry-data-pvc.yaml", namespace=namespace)
phase_before = lab.get("pvc/registry-data").get("status", {}).get("phase", "Pending")
print(f"phase before any pod uses it: {phase_before}")
lk.check(phase_before in ("Pending", "Bound"), f"claim created ({phase_before})")
if binding_mode == "WaitForFirstConsumer":
    lk.check(phase_before == "Pending", "WaitForFirstConsumer: no volume until a pod needs it")
lk.record("pvc_phase_before_consumer", phase_before)

# %% [markdown]
# ## 4. The first consumer: a pod that writes to the claim
# A one-shot `busybox` pod mounts the claim and writes a file; the claim binds when it is scheduled.

# %%
writer = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "registry-data-writer", "labels": {"app.kubernetes.io/part-of": "mcp-mesh-lab"}},
    "spec": {
        "restartPolicy": "Never",
        "containers": [{
            "name": "writer",
            "image": "busybox:1.36",
            "command": ["sh", "-c", "echo written-by-the-lab > /data/probe.txt && cat /data/probe.txt"],
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        }],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "registry-data"}}],
    },
}
lab.apply(writer, namespace=namespace)
lab.wait_for("pvc/registry-data", "Bound", timeout=bind_timeout)
lab.wait_for("pod/registry-data-writer", lambda pod: pod.get("status", {}).get("phase") == "Succeeded", timeout=bind_timeout)
output = lab.logs("registry-data-writer")
print(output)
lk.check("written-by-the-lab" in output, "the pod wrote to and read from the claim")

# %%
lk.show("kubectl get pvc,pv")
display(lab.table("pvc"))
pvc = lab.get("pvc/registry-data")
lk.check(pvc["status"]["phase"] == "Bound", f"claim Bound to volume {pvc['spec'].get('volumeName')}")
lk.record("pvc_phase_after_consumer", pvc["status"]["phase"])

# %% [markdown]
# ## Summary
# - the default class and its binding mode explain when a claim binds;
# - the ConfigMap and Secret carry the guide's values; the Secret's key has the right length;
# - a claim naming `standard` bound as soon as a pod used it.
#
# The StatefulSet in **02-statefulset** does not use this claim: its `volumeClaimTemplates` create one
# claim per pod (`data-mcp-mesh-registry-0`, ...).

# %% [markdown]
# ## Exercise: a claim of your own
# Create a PersistentVolumeClaim `scratch` that asks for `10Mi` with the default storage class (leave
# `storageClassName` out): in the terminal with `kubectl apply -f -` and a few lines of YAML, or from
# Python with `lab.apply({...})`. Before any pod uses it, which phase does it show, and why?
# Look with `kubectl get pvc scratch`.

# %%
# your turn: in the terminal, or here

# %% tags=["solution"]
if solutions:
    lab.apply({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "scratch"},
               "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Mi"}}}}, namespace=namespace)

# %%
with lk.exercise("a claim of your own", required=solutions):
    lk.check(lab.exists("pvc/scratch"), "pvc/scratch exists", "kubectl apply -f - with kind: PersistentVolumeClaim, name scratch")
    scratch = lab.get("pvc/scratch")
    lk.check(scratch["spec"]["resources"]["requests"]["storage"] == "10Mi", "pvc/scratch asks for 10Mi", "spec.resources.requests.storage: 10Mi")
    expected = "Pending" if binding_mode == "WaitForFirstConsumer" else "Bound"
    lk.check(scratch.get("status", {}).get("phase") == expected, f"…and is {expected}: the default class binds {binding_mode}")

# %% [markdown]
# ## Cleanup

# %%
if cleanup:
    lab.delete("pvc/scratch")
    lab.delete("pod/registry-data-writer")
    lab.delete("pvc/registry-data")
    lk.check(not lab.exists("pvc/registry-data"), "this lesson's claim and pod removed (the configuration stays)")
