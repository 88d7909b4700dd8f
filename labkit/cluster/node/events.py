"""Pod events as the kubelet writes them (source component ``kubelet``), with repeats counted."""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Mapping
from typing import Any, cast

from kubernetes.client import CoreV1Api
from kubernetes.client.exceptions import ApiException

from labkit.cluster.node.container import now_rfc3339

log = logging.getLogger(__name__)


class EventRecorder:
    """Creates Events; the same (object, reason, message) again bumps ``count`` and ``lastTimestamp``."""

    def __init__(self, core: CoreV1Api, node_name: str) -> None:
        self.core = core
        self.node_name = node_name
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str, str, str], tuple[str, str, int]] = {}

    def pod_event(
        self,
        pod: Mapping[str, Any],
        reason: str,
        message: str,
        *,
        warning: bool = False,
        container: str | None = None,
    ) -> None:
        """Record an event about a pod (or one of its containers); never raises."""
        meta = pod["metadata"]
        field_path = f"spec.containers{{{container}}}" if container else ""
        key = (str(meta.get("uid")), field_path, reason, message)
        now = now_rfc3339()
        try:
            with self._lock:
                seen = self._seen.get(key)
                if seen is not None:
                    name, namespace, count = seen
                    self.core.patch_namespaced_event(
                        name, namespace, {"count": count + 1, "lastTimestamp": now}
                    )
                    self._seen[key] = (name, namespace, count + 1)
                    return
            name = f"{meta['name']}.{secrets.token_hex(8)}"
            body = {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": meta["namespace"]},
                "involvedObject": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": meta["name"],
                    "namespace": meta["namespace"],
                    "uid": meta.get("uid"),
                    **({"fieldPath": field_path} if field_path else {}),
                },
                "reason": reason,
                "message": message,
                "type": "Warning" if warning else "Normal",
                "source": {"component": "kubelet", "host": self.node_name},
                "reportingComponent": "kubelet",
                "reportingInstance": self.node_name,
                "firstTimestamp": now,
                "lastTimestamp": now,
                "count": 1,
            }
            self.core.create_namespaced_event(meta["namespace"], cast(Any, body))
            with self._lock:
                self._seen[key] = (name, meta["namespace"], 1)
        except ApiException as exc:
            log.warning("could not record event %s for pod %s: %s", reason, meta.get("name"), exc.reason)
        except Exception:  # an event is never worth crashing a pod worker
            log.exception("could not record event %s", reason)

    def forget(self, uid: str) -> None:
        """Drop the repeat-counting memory of a deleted pod."""
        with self._lock:
            for key in [k for k in self._seen if k[0] == uid]:
                del self._seen[key]
