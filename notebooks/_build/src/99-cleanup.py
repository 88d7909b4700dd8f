# %% [markdown]
# # 99 · Cleanup
#
# *Takes about 15 s on the local cluster when run top to bottom (measured on 2 cores), plus your time to read, type and do the exercise.*
#
# Everything the lab created lives in the namespace, except the volumes behind its claims, which
# the storage provisioner deletes when the claims go (reclaim policy `Delete`).
#
# **What you will learn**
# - what deleting a namespace removes, and what outlives it (persistent volumes with `Retain`);
# - how to check that nothing is left.

# %% tags=["parameters"]
cluster = "local"
namespace = "mcp-mesh"
delete_timeout = 180
cleanup = True  # False: only list what would be removed
solutions = False  # True: the exercises' solutions run too (the test suite does)

# %%
import labkit as lk

lab = lk.connect(cluster=cluster, namespace=namespace)
lk.check(True, f"connected to {lab.context}")

# %% [markdown]
# ## 1. What is there

# %%
if lab.namespace_exists():
    lk.show(f"kubectl get all,pvc,configmap,secret,lease -n {namespace}")
    display(lab.table("statefulset", "deployment", "pod", "svc", "pvc"))


def volumes_of_namespace() -> list[str]:
    return [
        pv["metadata"]["name"]
        for pv in lab.list_objects("persistentvolume")
        if (pv["spec"].get("claimRef") or {}).get("namespace") == namespace
    ]


print("persistent volumes bound to the namespace's claims:", volumes_of_namespace())

# %% [markdown]
# ## 2. Delete the namespace
# Deleting a namespace deletes every object in it; the claims' volumes follow.

# %%
if cleanup:
    lk.show(f"kubectl delete namespace {namespace} --wait")
    lab.delete(f"namespace/{namespace}", timeout=delete_timeout)
    lab.wait_for(lambda: not volumes_of_namespace(), timeout=delete_timeout)
    lk.check(not lab.namespace_exists(), f"namespace {namespace} is gone")
    lk.check(volumes_of_namespace() == [], "no persistent volume of the lab is left")
    lk.record("objects_left", len(volumes_of_namespace()) + int(lab.namespace_exists()))
else:
    print(f"cleanup=False: `kubectl delete namespace {namespace}` would remove the objects above")

# %% [markdown]
# ## Exercise: is it gone?
# Is the lab's namespace still there? (`kubectl get namespace <namespace>` in the terminal.) Put True
# or False in `namespace_left`.

# %%
namespace_left = None  # your answer

# %% tags=["solution"]
if solutions:
    namespace_left = lab.namespace_exists()

# %%
with lk.exercise("is it gone", required=solutions):
    lk.check(namespace_left is lab.namespace_exists(), "namespace_left is what the cluster says",
             f"kubectl get namespace {namespace}")

# %% [markdown]
# ## Summary
# The lab's namespace, its objects and its volumes are gone. To stop the local cluster as well:
# `labkit cluster down` (add `--wipe` to delete its state).
