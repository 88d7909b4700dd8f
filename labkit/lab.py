"""The Lab: one object for the cluster the lab runs on, with kubectl-shaped, synchronous operations."""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pandas as pd

from labkit import manifests, object_waits, streams, summaries
from labkit.errors import (
    BadParameter,
    ClusterUnavailable,
    KubectlFailed,
    LabError,
    ManifestError,
    NamespaceMissing,
    ObjectNotFound,
    require_type,
)
from labkit.kube import Kube, KubeApiError, Ref, parse_ref
from labkit.object_waits import Condition
from labkit.portforward import Stream, forwarding, pod_port_stream
from labkit.service_targets import target_resolver
from labkit.waiting import poll

FIELD_MANAGER = "labkit"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DEFAULT_TABLE_KINDS = ("statefulset", "pod", "svc", "pvc")
DEFAULT_LEASE = "mcp-mesh-registry-leader"  # the registry's LEADER_ELECTION_LEASE_NAME default


def legacy_token_secrets(server_version: str) -> bool:
    """Whether the cluster gives ServiceAccounts token Secrets of their own (Kubernetes before 1.24)."""
    match = re.match(r"v?(\d+)\.(\d+)", server_version or "")
    if match is None:
        return False
    return (int(match.group(1)), int(match.group(2))) < (1, 24)


def check_namespace_name(namespace: object) -> str:
    """Validate a namespace name (a DNS label) and return it."""
    require_type("namespace", namespace, str)
    assert isinstance(namespace, str)
    if not DNS_LABEL.match(namespace) or len(namespace) > 63:
        raise BadParameter(
            f"namespace {namespace!r} is not a valid name: lowercase letters, digits and '-', at most 63"
        )
    return namespace


def connect(
    cluster: Any = "local",
    namespace: str = "mcp-mesh",
    *,
    kubeconfig: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> Lab:
    """Connect to the lab's cluster and return a Lab.

    cluster: ``"local"`` for labkit's local cluster (started when it is not running), a kube context name
    (``"kind-kind"``, ``"minikube"``, ...), None for the kubeconfig's current context, or a
    ``labkit.cluster.LocalCluster`` object (started when it is not running).
    """
    namespace = check_namespace_name(namespace)
    if cluster is not None and not isinstance(cluster, str):
        if not (hasattr(cluster, "up") and hasattr(cluster, "kubeconfig_path")):
            raise BadParameter(
                f"cluster must be 'local', a kube context name, None or a LocalCluster, not {cluster!r}"
            )
        kube = Kube(start_local_cluster(progress, cluster), None)
        local = True
    elif cluster == "local":
        kube = Kube(start_local_cluster(progress), None)
        local = True
    else:
        kube = Kube(kubeconfig, cluster)
        local = False
    version = kube.server_version()
    return Lab(kube, namespace, local=local, server_version=version)


def start_local_cluster(progress: bool = True, cluster: Any = None) -> str:
    """Start labkit's local cluster (or the given LocalCluster) unless it runs; return its kubeconfig."""
    if cluster is None:
        from labkit.cluster import LocalCluster  # imported here: labkit.cluster imports this module

        cluster = LocalCluster()
    try:
        info = cluster.up(progress=progress)
    except LabError:
        raise
    except Exception as exc:
        raise ClusterUnavailable(f"the local cluster did not start: {exc}") from None
    return str(info.kubeconfig)


class Lab:
    """The cluster the lab runs on and the namespace it works in; every method is synchronous."""

    def __init__(self, kube: Kube, namespace: str, *, local: bool = False, server_version: str = "") -> None:
        self.kube = kube
        self.namespace = check_namespace_name(namespace)
        self.local = local
        self.server_version = server_version
        self._round_robin = itertools.count()

    def __repr__(self) -> str:
        where = "local cluster" if self.local else f"context {self.context!r}"
        return f"<Lab {where} {self.server_version} namespace={self.namespace!r}>"

    @property
    def kubeconfig(self) -> str:
        """Path of the kubeconfig in use."""
        return self.kube.kubeconfig

    @property
    def context(self) -> str:
        """Name of the kube context in use."""
        return self.kube.context_name

    # -- namespaces and errors ----------------------------------------------------------------------

    def ensure_namespace(self) -> None:
        """Create the lab's namespace unless it exists (server-side apply, so it is idempotent)."""
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}}
        resource = self.kube.resource("v1", "Namespace")
        self._wait_namespace_terminated(resource)
        self.kube.call(
            f"create namespace {self.namespace}",
            resource.server_side_apply,
            body=body,
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
        )
        self._wait_default_service_account()

    def _wait_namespace_terminated(self, resource: Any, timeout: float = 180) -> None:
        """A namespace being deleted cannot be reused: wait until it is gone."""

        def phase() -> str:
            namespace = self.kube.find(resource, self.namespace, None)
            return "gone" if namespace is None else str((namespace.get("status") or {}).get("phase", ""))

        if phase() == "Terminating":
            poll(
                lambda: ((current := phase()) != "Terminating", current),
                f"namespace {self.namespace} to finish terminating",
                timeout,
            )

    def _wait_default_service_account(self, timeout: float = 60) -> None:
        """Wait until the namespace's ``default`` ServiceAccount exists (with its token Secret before
        Kubernetes 1.24): pods created earlier are rejected with "No API token found"."""
        accounts = self.kube.resource("v1", "ServiceAccount")
        needs_secret = legacy_token_secrets(self.server_version)

        def ready() -> tuple[bool, str]:
            account = self.kube.find(accounts, "default", self.namespace)
            if account is None:
                return False, "no default ServiceAccount yet"
            if needs_secret and not account.get("secrets"):
                return False, "the default ServiceAccount has no token yet"
            return True, "ready"

        poll(
            ready,
            f"namespace {self.namespace}'s default ServiceAccount",
            timeout,
            interval=0.2,
            progress=False,
        )

    def namespace_exists(self, namespace: str | None = None) -> bool:
        """Whether the namespace (default: the lab's) exists."""
        return self._exists(self.kube.resource("v1", "Namespace"), namespace or self.namespace, None)

    def _not_found(self, what: str, namespace: str | None) -> LabError:
        """The error for a 404: a missing namespace when that is the cause, else the missing object."""
        if namespace and not self.namespace_exists(namespace):
            return NamespaceMissing(
                f"namespace {namespace!r} does not exist: create it with lab.ensure_namespace() "
                f"(kubectl create namespace {namespace})"
            )
        where = f" in namespace {namespace!r}" if namespace else ""
        return ObjectNotFound(f"{what} not found{where}")

    def _ns(self, namespace: str | None) -> str:
        return check_namespace_name(namespace) if namespace is not None else self.namespace

    # -- apply and delete ---------------------------------------------------------------------------

    def prepare(
        self,
        source: manifests.Source,
        namespace: str | None = None,
        images: Mapping[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """The objects apply would send: loaded, images rewritten, protocols filled, namespaces set.

        With ``namespace`` every object moves there as with kustomize's ``namespace:`` (a Namespace object
        is renamed, RoleBinding subjects follow their ServiceAccount); without it an object keeps its own
        namespace, or gets the lab's.
        """
        objects = manifests.load_objects(source)
        if images:
            manifests.rewrite_images(objects, images)
        manifests.fill_port_protocols(objects)
        if namespace is not None:
            manifests.retarget_namespace(objects, self._ns(namespace), self._namespaced)
        for obj in objects:
            metadata = obj.setdefault("metadata", {})
            if self._namespaced(obj):
                metadata.setdefault("namespace", self.namespace)
            else:
                metadata.pop("namespace", None)
        return manifests.apply_order(objects)

    def _namespaced(self, obj: dict[str, Any]) -> bool:
        return bool(self.kube.resource(obj["apiVersion"], obj["kind"]).namespaced)

    def apply(
        self,
        source: manifests.Source,
        namespace: str | None = None,
        images: Mapping[str, str] | None = None,
    ) -> list[str]:
        """Server-side apply a file, folder, Kustomize directory, dict or list of dicts.

        Returns ``["statefulset/mcp-mesh-registry", ...]``. ``images`` rewrites container images by
        repository (``{"mcp-mesh/registry": "mcp-mesh/registry:ci-1"}``). With ``namespace`` every
        object moves there (kustomize's ``namespace:``; see ``prepare``); else an object keeps its own
        namespace, or gets the lab's.
        """
        applied: list[str] = []
        for obj in self.prepare(source, namespace, images):
            resource = self.kube.resource(obj["apiVersion"], obj["kind"])
            name, ns = obj["metadata"]["name"], obj["metadata"].get("namespace")
            ref = f"{obj['kind'].lower()}/{name}"
            try:
                self._apply_one(resource, obj, ref)
            except KubeApiError as exc:
                if exc.status == 404 and ns and not self.namespace_exists(ns):
                    raise self._not_found(ref, ns) from None
                raise ManifestError(f"apply {ref} was rejected: {exc.server_message}") from None
            applied.append(ref)
        return applied

    def _apply_one(self, resource: Any, obj: dict[str, Any], ref: str, token_wait: float = 30) -> None:
        """Server-side apply one object; retry while a fresh namespace's ServiceAccount token is missing."""
        deadline = time.monotonic() + token_wait
        while True:
            try:
                self.kube.call(
                    f"apply {ref}",
                    resource.server_side_apply,
                    body=obj,
                    name=obj["metadata"]["name"],
                    namespace=obj["metadata"].get("namespace"),
                    field_manager=FIELD_MANAGER,
                    force_conflicts=True,
                )
                return
            except KubeApiError as exc:
                if "No API token found" not in exc.server_message or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def delete(
        self,
        source_or_ref: manifests.Source,
        namespace: str | None = None,
        wait: bool = True,
        grace_period: int | None = None,
        timeout: float = 120,
    ) -> None:
        """Delete ``"pod/x"`` or the objects of a manifest source; missing objects are fine.

        With wait, block until the objects are gone: an object counts as gone once no object of that
        name exists, or one with a different UID does (a StatefulSet recreates its pods by name).
        """
        if grace_period is not None:
            require_type("grace_period", grace_period, int)
        targets: list[tuple[Any, str, str | None]] = []
        if isinstance(source_or_ref, str) and looks_like_ref(source_or_ref):
            ref = parse_ref(source_or_ref)
            resource = self.kube.resource_for_kind(ref.kind)
            targets.append((resource, ref.name, self._ns(namespace) if resource.namespaced else None))
        else:
            for obj in self.prepare(source_or_ref, namespace):
                resource = self.kube.resource(obj["apiVersion"], obj["kind"])
                targets.append((resource, obj["metadata"]["name"], obj["metadata"].get("namespace")))
        deleted_uids: dict[tuple[str, str | None], str] = {}
        for resource, name, ns in reversed(targets):
            current = self.kube.find(resource, name, ns) if wait else None
            if current is not None:
                deleted_uids[(name, ns)] = current["metadata"]["uid"]
            try:
                self.kube.call(
                    f"delete {resource.kind.lower()}/{name}",
                    resource.delete,
                    name=name,
                    namespace=ns,
                    grace_period_seconds=grace_period,
                    propagation_policy="Background",
                )
            except KubeApiError as exc:
                if exc.status != 404:
                    raise
        if wait:
            names = ", ".join(f"{r.kind.lower()}/{n}" for r, n, _ in targets)

            def gone() -> tuple[bool, str]:
                left = [
                    f"{r.kind.lower()}/{n}"
                    for r, n, ns in targets
                    if self._still_there(r, n, ns, deleted_uids)
                ]
                return not left, f"waiting for {', '.join(left)}" if left else "gone"

            poll(gone, f"{names} to be deleted", timeout, interval=0.5)

    # -- reading ------------------------------------------------------------------------------------

    def _exists(self, resource: Any, name: str, namespace: str | None) -> bool:
        return self.kube.find(resource, name, namespace) is not None

    def _still_there(
        self, resource: Any, name: str, namespace: str | None, deleted_uids: dict[tuple[str, str | None], str]
    ) -> bool:
        """Whether the very object that was deleted (same UID) still exists."""
        current = self.kube.find(resource, name, namespace)
        if current is None:
            return False
        uid = deleted_uids.get((name, namespace))
        return uid is None or current["metadata"]["uid"] == uid

    def _resolve(self, ref: str | Ref, namespace: str | None = None) -> tuple[Any, Ref, str | None]:
        parsed = ref if isinstance(ref, Ref) else parse_ref(ref)
        resource = self.kube.resource_for_kind(parsed.kind)
        return resource, parsed, self._ns(namespace) if resource.namespaced else None

    def get(self, ref: str, namespace: str | None = None) -> dict[str, Any]:
        """One object as a dict, e.g. ``lab.get("statefulset/mcp-mesh-registry")``."""
        resource, parsed, ns = self._resolve(ref, namespace)
        try:
            return self.kube.get(resource, parsed.name, ns)
        except KubeApiError as exc:
            if exc.status == 404:
                raise self._not_found(str(parsed), ns) from None
            raise

    def exists(self, ref: str, namespace: str | None = None) -> bool:
        """Whether the object exists."""
        resource, parsed, ns = self._resolve(ref, namespace)
        return self._exists(resource, parsed.name, ns)

    def list_objects(
        self, kind: str, selector: str | None = None, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        """Objects of one kind in the namespace (or cluster-wide for cluster-scoped kinds)."""
        resource = self.kube.resource_for_kind(kind)
        ns = self._ns(namespace) if resource.namespaced else None
        items = self.kube.list(resource, ns, label_selector=selector)
        for item in items:
            item.setdefault("kind", resource.kind)
            item.setdefault("apiVersion", resource.group_version)
        return items

    def table(self, *kinds: str, selector: str | None = None) -> pd.DataFrame:
        """Like ``kubectl get statefulset,pod,svc,pvc -l SELECTOR``: one row per object."""
        wanted = [
            k.strip() for arg in (kinds or DEFAULT_TABLE_KINDS) for k in str(arg).split(",") if k.strip()
        ]
        return summaries.objects_frame([obj for kind in wanted for obj in self.list_objects(kind, selector)])

    def pods(self, selector: str | None = None) -> pd.DataFrame:
        """Pods: name, phase, ready (bool), containers ("1/1"), restarts, ip, node, reason."""
        return summaries.pods_frame(self.list_objects("pod", selector))

    def logs(
        self,
        pod: str,
        previous: bool = False,
        tail: int | None = None,
        container: str | None = None,
    ) -> str:
        """A pod's container log (``previous=True``: the last terminated container's)."""
        parsed = parse_ref(pod, default_kind="pod")
        if parsed.kind not in ("pod", "pods", "po"):
            raise BadParameter(f"logs needs a pod, like 'pod/mcp-mesh-registry-0', not {pod!r}")
        if tail is not None:
            require_type("tail", tail, int)
        from kubernetes.client import CoreV1Api

        try:
            return str(
                self.kube.call(
                    f"logs of pod/{parsed.name}",
                    CoreV1Api(self.kube.api_client).read_namespaced_pod_log,
                    parsed.name,
                    self.namespace,
                    previous=previous,
                    tail_lines=tail,
                    container=container,
                )
            )
        except KubeApiError as exc:
            if exc.status == 404 and not self._exists(
                self.kube.resource("v1", "Pod"), parsed.name, self.namespace
            ):
                raise self._not_found(f"pod/{parsed.name}", self.namespace) from None
            raise

    def events(self, ref: str | None = None) -> pd.DataFrame:
        """Events in the namespace (of one object when ref is given): type, reason, object, message..."""
        field_selector = None
        if ref is not None:
            resource, parsed, _ = self._resolve(ref)
            field_selector = f"involvedObject.name={parsed.name},involvedObject.kind={resource.kind}"
        events = self.kube.list(
            self.kube.resource("v1", "Event"), self.namespace, field_selector=field_selector
        )
        return summaries.events_frame(events)

    def describe(self, ref: str) -> str:
        """``kubectl describe`` of one object, run with the real kubectl."""
        parsed = parse_ref(ref)
        return self.kubectl("describe", parsed.kind, parsed.name)

    def lease(self, name: str = DEFAULT_LEASE) -> dict[str, Any]:
        """A coordination.k8s.io Lease as a dict; its spec fields are also at the top level."""
        obj = self.get(f"lease/{name}")
        return {**(obj.get("spec") or {}), **obj}

    def lease_holder(self, name: str = DEFAULT_LEASE) -> str | None:
        """The Lease's holderIdentity, or None when the lease is missing or unheld."""
        try:
            holder = self.lease(name).get("holderIdentity")
        except ObjectNotFound:
            return None
        return str(holder) if holder else None

    def can_i(
        self, verb: str, resource: str, service_account: str | None = "mcp-mesh-registry", group: str = ""
    ) -> bool:
        """Whether a ServiceAccount of the namespace (None: yourself) may do verb on resource here.

        resource may carry its group: ``"leases.coordination.k8s.io"``.
        """
        require_type("verb", verb, str)
        require_type("resource", resource, str)
        if "." in resource and not group:
            resource, group = resource.split(".", 1)
        attributes = {"namespace": self.namespace, "verb": verb, "resource": resource, "group": group}
        if service_account is None:
            kind = "SelfSubjectAccessReview"
            spec: dict[str, Any] = {"resourceAttributes": attributes}
        else:
            kind = "SubjectAccessReview"
            spec = {
                "resourceAttributes": attributes,
                "user": f"system:serviceaccount:{self.namespace}:{service_account}",
                "groups": [
                    "system:serviceaccounts",
                    f"system:serviceaccounts:{self.namespace}",
                    "system:authenticated",
                ],
            }
        review = self.kube.resource("authorization.k8s.io/v1", kind)
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": kind, "spec": spec}
        result = self.kube.call(f"can-i {verb} {resource}", review.create, body=body)
        return bool(result.to_dict().get("status", {}).get("allowed"))

    def storage_classes(self) -> pd.DataFrame:
        """StorageClasses: name, provisioner, default, reclaim_policy, binding_mode."""
        return summaries.storage_classes_frame(self.list_objects("storageclass"))

    def nodes(self) -> pd.DataFrame:
        """Nodes: name, ready, version."""
        rows = [
            {
                "name": node["metadata"]["name"],
                "ready": summaries.condition_holds(node, "Ready"),
                "version": (node.get("status") or {}).get("nodeInfo", {}).get("kubeletVersion", ""),
            }
            for node in self.list_objects("node")
        ]
        return pd.DataFrame(rows, columns=["name", "ready", "version"])

    # -- changing and waiting -----------------------------------------------------------------------

    def scale(self, ref: str, replicas: int) -> None:
        """Set a workload's replicas (``kubectl scale``)."""
        require_type("replicas", replicas, int)
        if replicas < 0:
            raise BadParameter(f"replicas must be 0 or more, not {replicas}")
        resource, parsed, ns = self._resolve(ref)
        self.get(str(parsed))
        self.kube.call(
            f"scale {parsed}",
            resource.patch,
            body={"spec": {"replicas": replicas}},
            name=parsed.name,
            namespace=ns,
            content_type="application/merge-patch+json",
        )

    def wait_rollout(self, ref: str, timeout: float = 180, progress: bool = True) -> None:
        """Wait until a StatefulSet/Deployment/DaemonSet rollout is complete (``kubectl rollout status``)."""
        object_waits.wait_rollout(self, ref, timeout, progress)

    def wait_for(
        self,
        ref_or_selector: str | Callable[[], Any],
        condition: Condition = "Ready",
        timeout: float = 120,
        *,
        fail_on: Sequence[str] = (),
        progress: bool = True,
    ) -> None:
        """Wait until an object (``"pod/x"``), every pod matching a label selector (``"app=x"``), or a
        callable meets the condition.

        condition: a condition type (``"Ready"``, ``"Available"``) or phase (``"Bound"``, ``"Running"``),
        ``"delete"`` (gone), or a callable taking the object dict. For workloads, ``"Ready"`` means all
        replicas ready. fail_on: pod reasons that end the wait at once (``"CrashLoopBackOff"``).
        """
        object_waits.wait_for(self, ref_or_selector, condition, timeout, fail_on=fail_on, progress=progress)

    # -- kubectl and port-forward -------------------------------------------------------------------

    def kubectl_command(self, *args: str) -> list[str]:
        """The kubectl command line for args, with the lab's context and namespace."""
        command = [streams.kubectl_for(self.local, self.kubeconfig, self.kube.context, self.server_version)]
        if self.kube.context:
            command += ["--context", self.kube.context]
        if not any(
            a in ("-n", "--namespace", "-A", "--all-namespaces") or a.startswith("--namespace=") for a in args
        ):
            command += ["--namespace", self.namespace]
        return command + [str(a) for a in args]

    def kubectl(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        """Run the real kubectl with the lab's kubeconfig, context and namespace; return its output.

        With check (the default) a non-zero exit raises KubectlFailed with kubectl's message.
        """
        command = self.kubectl_command(*args)
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            env={**os.environ, "KUBECONFIG": self.kubeconfig},
        )
        if result.returncode != 0:
            if check:
                message = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "no output"
                raise KubectlFailed(f"kubectl {' '.join(args)} failed (exit {result.returncode}): {message}")
            return result.stdout + result.stderr
        return result.stdout

    def exec(
        self,
        pod: str,
        command: Sequence[str],
        *,
        container: str | None = None,
        stdin: str | None = None,
        check: bool = True,
        timeout: float = 60,
    ) -> streams.ExecResult:
        """Run ``command`` in a container of ``pod`` through the API server (``kubectl exec``)."""
        arguments = streams.exec_arguments(parse_ref(pod, "pod").name, command, container, stdin is not None)
        env = {"KUBECONFIG": self.kubeconfig}
        return streams.exec_in_pod(
            self.kubectl_command(*arguments), env, stdin=stdin, check=check, timeout=timeout
        )

    @contextlib.contextmanager
    def port_forward(self, ref: str, port: int | str) -> Iterator[str]:
        """Forward a local port to ``svc/NAME`` or ``pod/NAME`` on port; yield ``http://127.0.0.1:PORT``.

        Through the API server on every cluster (the Python client's port-forward, as ``kubectl
        port-forward`` does), one stream per connection to the target chosen then: for a Service a ready
        Endpoint, so the URL survives a failover.
        """
        if not isinstance(port, int | str) or isinstance(port, bool):
            raise BadParameter(f"port must be a port number or name, not {port!r}")
        parsed = parse_ref(ref)
        kind = self.kube.resource_for_kind(parsed.kind).kind
        if kind not in ("Service", "Pod"):
            raise BadParameter(f"port_forward needs 'svc/NAME' or 'pod/NAME', not {ref!r}")
        resolver = target_resolver(self, kind, parsed.name, port, self._round_robin)
        try:
            resolver()
        except (ObjectNotFound, NamespaceMissing, BadParameter):
            raise  # a wrong name or port is an error now, not at the first connection
        except LabError:
            pass  # no ready pod yet: each connection tries again
        core = self._streams_api()
        opening = threading.Lock()  # the client's port-forward patches its ApiClient while it connects

        def open_stream() -> Stream:
            pod, target_port = resolver()
            with opening:
                return pod_port_stream(core, self.namespace, pod, target_port)

        try:
            with forwarding(open_stream) as url:
                yield url
        finally:
            core.api_client.close()

    def _streams_api(self) -> Any:
        """A CoreV1Api on an ApiClient of its own: the client's streams patch the ApiClient they use."""
        from kubernetes import client
        from kubernetes import config as k8s_config

        api_client = k8s_config.new_client_from_config(
            config_file=self.kubeconfig, context=self.kube.context, persist_config=False
        )
        return client.CoreV1Api(api_client)


def looks_like_ref(text: str) -> bool:
    """Whether a delete argument is ``kind/name`` rather than a manifest path."""
    if text.endswith(manifests.MANIFEST_SUFFIXES) or text.count("/") != 1:
        return False
    with contextlib.suppress(ManifestError):
        manifests.resolve_path(text)
        return False
    return True
