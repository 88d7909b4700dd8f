"""A thin layer over the Kubernetes Python client's dynamic client: refs, resources, plain-dict results.

Everything returns plain dicts in the API's own camelCase shape, and every API failure becomes a LabError
with one line that says what was asked and what the server answered.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError, ResourceNotUniqueError

from labkit.errors import BadParameter, ClusterUnavailable, LabError

REQUEST_TIMEOUT = 30.0

# kubectl's names and short names for the kinds the lab uses, to avoid a discovery round trip for them.
KIND_ALIASES: dict[str, tuple[str, str]] = {}
for _names, _api_version, _kind in [
    (("pod", "pods", "po"), "v1", "Pod"),
    (("service", "services", "svc"), "v1", "Service"),
    (("endpoints", "ep"), "v1", "Endpoints"),
    (("configmap", "configmaps", "cm"), "v1", "ConfigMap"),
    (("secret", "secrets"), "v1", "Secret"),
    (("serviceaccount", "serviceaccounts", "sa"), "v1", "ServiceAccount"),
    (("persistentvolumeclaim", "persistentvolumeclaims", "pvc"), "v1", "PersistentVolumeClaim"),
    (("persistentvolume", "persistentvolumes", "pv"), "v1", "PersistentVolume"),
    (("namespace", "namespaces", "ns"), "v1", "Namespace"),
    (("node", "nodes", "no"), "v1", "Node"),
    (("event", "events", "ev"), "v1", "Event"),
    (("statefulset", "statefulsets", "sts"), "apps/v1", "StatefulSet"),
    (("deployment", "deployments", "deploy"), "apps/v1", "Deployment"),
    (("replicaset", "replicasets", "rs"), "apps/v1", "ReplicaSet"),
    (("daemonset", "daemonsets", "ds"), "apps/v1", "DaemonSet"),
    (("job", "jobs"), "batch/v1", "Job"),
    (("lease", "leases"), "coordination.k8s.io/v1", "Lease"),
    (("role", "roles"), "rbac.authorization.k8s.io/v1", "Role"),
    (("rolebinding", "rolebindings"), "rbac.authorization.k8s.io/v1", "RoleBinding"),
    (("clusterrole", "clusterroles"), "rbac.authorization.k8s.io/v1", "ClusterRole"),
    (("clusterrolebinding", "clusterrolebindings"), "rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    (("storageclass", "storageclasses", "sc"), "storage.k8s.io/v1", "StorageClass"),
]:
    for _name in _names:
        KIND_ALIASES[_name] = (_api_version, _kind)


@dataclass(frozen=True)
class Ref:
    """A reference like ``statefulset/mcp-mesh-registry``: a kind (as typed) and a name."""

    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


def parse_ref(ref: str, default_kind: str | None = None) -> Ref:
    """Parse ``kind/name`` (or a bare name when default_kind is given) into a Ref."""
    if not isinstance(ref, str) or not ref.strip():
        raise BadParameter(f"a reference must be a string like 'statefulset/mcp-mesh-registry', not {ref!r}")
    kind, slash, name = ref.strip().partition("/")
    if not slash:
        if default_kind is None:
            raise BadParameter(f"reference {ref!r} needs a kind, like 'pod/{ref}' or 'statefulset/{ref}'")
        kind, name = default_kind, ref.strip()
    if not kind or not name or "/" in name:
        raise BadParameter(
            f"reference {ref!r} must look like 'kind/name', e.g. 'statefulset/mcp-mesh-registry'"
        )
    return Ref(kind.lower(), name)


def api_error_message(exc: ApiException) -> str:
    """The server's own message from an ApiException body, else its status and reason."""
    try:
        body = json.loads(exc.body or "")
        if isinstance(body, dict) and body.get("message"):
            return str(body["message"])
    except (TypeError, ValueError):
        pass
    return f"HTTP {exc.status} {exc.reason}".strip()


def default_kubeconfig() -> str:
    """The kubeconfig kubectl would use: $KUBECONFIG, else ~/.kube/config."""
    return os.environ.get("KUBECONFIG") or str(Path("~/.kube/config").expanduser())


class Kube:
    """The API client of one cluster (a kubeconfig and an optional context)."""

    def __init__(self, kubeconfig: str | os.PathLike[str] | None = None, context: str | None = None) -> None:
        self.kubeconfig = str(kubeconfig) if kubeconfig is not None else default_kubeconfig()
        self.context = context
        first_file = self.kubeconfig.split(os.pathsep)[0]
        if not Path(first_file).expanduser().is_file():
            raise ClusterUnavailable(
                f"no kubeconfig at {first_file}: start the local cluster with `labkit cluster up` "
                "(or connect(cluster='local')), or point KUBECONFIG at your cluster's kubeconfig"
            )
        try:
            contexts, current = k8s_config.list_kube_config_contexts(config_file=self.kubeconfig)
        except (ConfigException, OSError, ValueError) as exc:
            raise ClusterUnavailable(f"cannot read kubeconfig {self.kubeconfig}: {exc}") from None
        names = [c["name"] for c in contexts or []]
        if context is not None and context not in names:
            raise ClusterUnavailable(
                f"kube context {context!r} is not in {self.kubeconfig} "
                f"(it has: {', '.join(names) or 'none'}); pick one of those, "
                "or create the cluster first (kind create cluster / minikube start)"
            )
        self.context_name = context or (current or {}).get("name", "")
        try:
            self.api_client = k8s_config.new_client_from_config(
                config_file=self.kubeconfig, context=context, persist_config=False
            )
        except (ConfigException, OSError, ValueError) as exc:
            raise ClusterUnavailable(f"cannot use kube context {self.context_name!r}: {exc}") from None
        self.host = str(self.api_client.configuration.host)
        self._dynamic: DynamicClient | None = None
        self._resources: dict[tuple[str, str], Any] = {}

    # -- connection -------------------------------------------------------------------------------

    def server_version(self) -> str:
        """The API server's gitVersion; raises ClusterUnavailable when it does not answer."""
        try:
            info = k8s_client.VersionApi(self.api_client).get_code(_request_timeout=10)
        except ApiException as exc:
            raise ClusterUnavailable(
                f"the Kubernetes API at {self.host} (context {self.context_name!r}) refused us: "
                f"{api_error_message(exc)}"
            ) from None
        except Exception as exc:
            raise ClusterUnavailable(
                f"the Kubernetes API at {self.host} (context {self.context_name!r}) does not answer "
                f"({type(exc).__name__}); start the cluster (`labkit cluster up` for the local one) or pick "
                "another context"
            ) from None
        return str(info.git_version)

    @property
    def dynamic(self) -> DynamicClient:
        """The dynamic client, created on first use (it runs API discovery)."""
        if self._dynamic is None:
            try:
                self._dynamic = DynamicClient(self.api_client)
            except ApiException as exc:
                raise ClusterUnavailable(
                    f"API discovery at {self.host} failed: {api_error_message(exc)}"
                ) from None
        return self._dynamic

    # -- resources --------------------------------------------------------------------------------

    def resource(self, api_version: str, kind: str) -> Any:
        """The dynamic Resource for an apiVersion and kind; ManifestError-style LabError when unknown."""
        key = (api_version, kind)
        if key not in self._resources:
            try:
                self._resources[key] = self.dynamic.resources.get(api_version=api_version, kind=kind)
            except (ResourceNotFoundError, ResourceNotUniqueError):
                raise LabError(
                    f"this cluster does not serve kind {kind!r} in apiVersion {api_version!r}"
                ) from None
        return self._resources[key]

    def resource_for_kind(self, kind: str) -> Any:
        """The dynamic Resource for a kind as a user types it: ``sts``, ``statefulset``, ``leases``..."""
        alias = kind.lower()
        if alias in KIND_ALIASES:
            return self.resource(*KIND_ALIASES[alias])
        for search in ({"name": alias}, {"singular_name": alias}, {"short_names": [alias]}):
            try:
                matches = [r for r in self.dynamic.resources.search(**search) if "/" not in r.name]
            except (ResourceNotFoundError, KeyError, TypeError):
                matches = []
            if matches:
                return matches[0]
        for resource in self.dynamic.resources.search():
            if getattr(resource, "kind", "").lower() == alias and "/" not in resource.name:
                return resource
        raise BadParameter(
            f"unknown kind {kind!r}: use a kubectl kind name such as pod, svc, statefulset, pvc"
        )

    def call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Call the API; turn a failure into a one-line LabError naming what was attempted."""
        kwargs.setdefault("_request_timeout", REQUEST_TIMEOUT)
        try:
            return fn(*args, **kwargs)
        except ApiException as exc:
            raise KubeApiError(what, exc) from None
        except LabError:
            raise
        except Exception as exc:
            if "Connection" in type(exc).__name__ or isinstance(exc, OSError):
                raise ClusterUnavailable(
                    f"{what}: the Kubernetes API at {self.host} does not answer ({type(exc).__name__})"
                ) from None
            raise

    def get(self, resource: Any, name: str, namespace: str | None) -> dict[str, Any]:
        """One object as a dict."""
        ns = namespace if resource.namespaced else None
        instance = self.call(f"get {resource.kind} {name}", resource.get, name=name, namespace=ns)
        return dict(instance.to_dict())

    def find(self, resource: Any, name: str, namespace: str | None) -> dict[str, Any] | None:
        """One object as a dict, or None when it does not exist (404)."""
        try:
            return self.get(resource, name, namespace)
        except KubeApiError as exc:
            if exc.status == 404:
                return None
            raise

    def list(
        self,
        resource: Any,
        namespace: str | None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        """The items of a list call as dicts."""
        ns = namespace if resource.namespaced else None
        result = self.call(
            f"list {resource.kind}",
            resource.get,
            namespace=ns,
            label_selector=label_selector,
            field_selector=field_selector,
        )
        return [dict(item) for item in result.to_dict().get("items") or []]


class KubeApiError(LabError):
    """The API server answered a request with an error status."""

    def __init__(self, what: str, exc: ApiException) -> None:
        self.status = int(exc.status or 0)
        self.server_message = api_error_message(exc)
        super().__init__(f"{what}: {self.server_message}")
