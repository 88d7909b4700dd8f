"""What ``up`` adds to a fresh control plane, and the API-level readiness checks it waits for.

Add-on: the default StorageClass ``standard`` (provisioner ``kubernetes.io/host-path``, the
controller-manager's built-in host-path provisioner; ``WaitForFirstConsumer`` like kind's).
"""

from __future__ import annotations

import datetime
from pathlib import Path

from kubernetes import client, config
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

STORAGE_CLASS = client.V1StorageClass(
    api_version="storage.k8s.io/v1",
    kind="StorageClass",
    metadata=client.V1ObjectMeta(
        name="standard",
        annotations={"storageclass.kubernetes.io/is-default-class": "true"},
        labels={"app.kubernetes.io/managed-by": "labkit"},
    ),
    provisioner="kubernetes.io/host-path",
    reclaim_policy="Delete",
    volume_binding_mode="WaitForFirstConsumer",
)


def api_client(kubeconfig: Path) -> client.ApiClient:
    """A Python kubernetes client for the given kubeconfig (never the user's ~/.kube/config)."""
    return config.new_client_from_config(config_file=str(kubeconfig))


def ensure_storage_class(api: client.ApiClient) -> None:
    """Create the default StorageClass ``standard`` unless it exists."""
    try:
        client.StorageV1Api(api).create_storage_class(STORAGE_CLASS, _request_timeout=10)
    except ApiException as error:
        if error.status != 409:
            raise


def default_service_account_ready(api: client.ApiClient) -> tuple[bool, str]:
    """Whether ``default/default`` exists with its token Secret (pods can be admitted then)."""
    try:
        account = client.CoreV1Api(api).read_namespaced_service_account(
            "default", "default", _request_timeout=5
        )
    except ApiException as error:
        return False, f"ServiceAccount default/default: {error.status} {error.reason}"
    except (OSError, HTTPError) as error:
        return False, f"API unreachable: {error}"
    if not account.secrets:
        return False, "ServiceAccount default/default has no token Secret yet"
    return True, "ServiceAccount default/default is ready"


def node_ready(
    api: client.ApiClient, node_name: str, since: datetime.datetime | None = None
) -> tuple[bool, str]:
    """Whether the node exists and reports condition Ready=True (renewed after ``since``, when given:
    a kubelet that just restarted inherits its predecessor's condition for a while)."""
    try:
        node = client.CoreV1Api(api).read_node(node_name, _request_timeout=5)
    except ApiException as error:
        return False, f"node {node_name}: {error.status} {error.reason}"
    except (OSError, HTTPError) as error:
        return False, f"API unreachable: {error}"
    for condition in (node.status and node.status.conditions) or []:
        if condition.type == "Ready":
            heartbeat = condition.last_heartbeat_time
            if since is not None and (heartbeat is None or heartbeat < since - datetime.timedelta(seconds=1)):
                return False, f"node {node_name}: no heartbeat from the new kubelet yet"
            return (
                condition.status == "True",
                f"node {node_name} Ready={condition.status} ({condition.reason})",
            )
    return False, f"node {node_name} has no Ready condition yet"
