# %% [markdown]
# # 00 · Prerequisites: the cluster, the namespace and the registry's rights
#
# *Takes about 9 s on the local cluster when run top to bottom (measured on 2 cores), plus your time to read, type and do the exercise.*
#
# The guide's step 1. Before anything is deployed, make sure the tools work, the cluster answers, and
# the registry will be allowed to do the one thing it needs from the Kubernetes API: manage a
# `Lease` for leader election.
#
# **What you will learn**
# - how the lab connects to a cluster (the embedded local cluster, kind, minikube or any context);
# - the namespace, ServiceAccount, Role and RoleBinding of `manifests/namespace-rbac.yaml`;
# - how to *prove* a permission with `kubectl auth can-i` instead of waiting for a 403 at run time.
#
# Every step calls `labkit`, which raises on failure, so a broken step stops the notebook. The
# equivalent `kubectl` command is printed next to it.

# %% tags=["parameters"]
cluster = "local"  # local: the embedded cluster of labkit; or a kube context such as kind-kind
namespace = "mcp-mesh"
image = "mcp-mesh/registry:dev"
cleanup = True  # nothing to remove here: 99-cleanup removes the namespace at the end of the lab
solutions = False  # True: the exercises' solutions run too (the test suite does)

# %% [markdown]
# ## 1. Connect to the cluster
# `lk.connect` finds (or starts) the cluster and checks that its API server answers. On the local
# cluster the first start can take a while: it builds the Kubernetes binaries once into a cache.

# %%
import labkit as lk

lab = lk.connect(cluster=cluster, namespace=namespace)
print(lab)
lk.check(lab.server_version != "", f"the API server answers (version {lab.server_version})")

# %% [markdown]
# ### What runs where
# By lesson 04 the namespace holds this: three registry pods of one StatefulSet, each with its own claim,
# a Service that sends traffic to the ready pod (the leader) and a headless one that names each pod, the
# Lease that says who leads, and real MCP Mesh agents outside the cluster reaching the registry through a
# port-forward. You drive it all from this notebook and from a terminal.

# %%
from labkit.diagrams import what_runs_where

what_runs_where(namespace=namespace, local=lab.local);

# %% [markdown]
# ## 2. Nodes and storage classes
# A registry pod needs a Ready node to run on, and its `/data` claim needs a storage class.

# %%
lk.try_in_terminal(lab, "kubectl get nodes", expect=r"\sReady\s")
nodes = lab.nodes()
display(nodes)
lk.check(bool(nodes["ready"].any()), f"{int(nodes['ready'].sum())} node(s) Ready", "see `kubectl describe node`")
lk.record("nodes_ready", int(nodes["ready"].sum()))

# %%
lk.show("kubectl get storageclass")
classes = lab.storage_classes()
display(classes)
defaults = classes[classes["default"]]["name"].tolist()
lk.check(len(defaults) >= 1, f"a default storage class exists: {defaults}", "claims without a class will stay Pending")
lk.record("default_storage_class", defaults[0])

# %% [markdown]
# ## 3. The namespace and the RBAC objects
# `namespace-rbac.yaml` holds the four objects of the guide's step 1. Applying it twice changes
# nothing (server-side apply), so every lesson can start by applying it.
#
# The files name the guide's namespace, `mcp-mesh`. Every lesson passes `namespace=namespace`, which
# moves the objects into the lesson's namespace the way kustomize's `namespace:` field does (the Namespace
# object is renamed, the RoleBinding's subject follows its ServiceAccount), so attendees sharing one
# cluster can each run the lab with `-p namespace <their own>`.

# %%
lk.show("kubectl apply -f manifests/namespace-rbac.yaml")
applied = lab.apply(lk.MANIFESTS / "namespace-rbac.yaml", namespace=namespace)
print(applied)
lk.check(
    {"serviceaccount/mcp-mesh-registry", "role/mcp-mesh-registry-leader-election"} <= set(applied),
    "namespace, ServiceAccount, Role and RoleBinding applied",
)

# %%
lk.show(f"kubectl get namespace {namespace}")
lk.check(lab.exists(f"namespace/{namespace}"), f"namespace {namespace} exists")
role = lab.get("role/mcp-mesh-registry-leader-election")
lk.check(
    role["rules"][0]["resources"] == ["leases"] and role["rules"][0]["apiGroups"] == ["coordination.k8s.io"],
    "the Role grants only coordination.k8s.io leases",
)

# %% [markdown]
# ## 4. Prove the ServiceAccount may manage leases
# The API server answers the question itself (a `SubjectAccessReview`): the registry's identity may
# get, create and update leases in this namespace, and nothing more: not pods, not secrets.

# %%
lk.show(f"kubectl auth can-i update leases.coordination.k8s.io -n {namespace} --as=system:serviceaccount:{namespace}:mcp-mesh-registry")
rights = {verb: lab.can_i(verb, "leases.coordination.k8s.io") for verb in ("get", "create", "update")}
print(rights)
lk.check(all(rights.values()), "the registry's ServiceAccount may get, create and update leases")
lk.check(not lab.can_i("list", "secrets"), "…and may not read secrets (least privilege)")
lk.check(not lab.can_i("update", "leases.coordination.k8s.io", service_account="default"),
         "the namespace's default ServiceAccount may not touch leases")
lk.record("lease_rbac_allowed", all(rights.values()))

# %% [markdown]
# ## Summary
# - the cluster answers and has a Ready node and a default storage class;
# - the lab's namespace (the `namespace` parameter), ServiceAccount `mcp-mesh-registry` and its lease
#   Role are in place;
# - `can-i` proved the rights before anything depends on them.
#
# Next: **01-storage**, the configuration and the claims the registry keeps its data on.

# %% [markdown]
# ## Exercise: label your namespace from the terminal
# Open a terminal (File › New › Terminal): it already talks to this cluster, with the lab's namespace
# set on the current context. Put the label `lab-step=prerequisites` on the namespace with
# `kubectl label namespace <namespace> lab-step=prerequisites`, then run the check below. (Or do it from
# Python in the next cell with `lab.kubectl(...)`.)

# %%
# your turn: in the terminal, or here

# %% tags=["solution"]
if solutions:
    lab.kubectl("label", "namespace", namespace, "lab-step=prerequisites", "--overwrite")

# %%
with lk.exercise("label the namespace", required=solutions):
    labels = lab.get(f"namespace/{namespace}")["metadata"].get("labels") or {}
    lk.check(labels.get("lab-step") == "prerequisites", f"namespace {namespace} carries lab-step=prerequisites",
             f"kubectl label namespace {namespace} lab-step=prerequisites")

# %% [markdown]
# ## Cleanup
# This lesson's objects are the lab's foundation; later lessons need them. `99-cleanup` removes the
# whole namespace at the end; the exercise's label goes now.

# %%
if cleanup:
    lab.kubectl("label", "namespace", namespace, "lab-step-", check=False)
    print("kept: the namespace and RBAC are used by the next lessons (99-cleanup removes them)")
