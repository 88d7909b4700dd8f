"""The node agent's view of the API: ConfigMaps, Secrets, claims, tokens, as plain dicts."""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from labkit.cluster.node.volumes import UnsupportedVolume, VolumeError


def load_api_client(kubeconfig: str) -> client.ApiClient:
    """An API client for the kubeconfig (admin-equivalent for the node agent)."""
    return config.new_client_from_config(config_file=kubeconfig)


def to_dict(api: client.ApiClient, obj: Any) -> dict[str, Any]:
    """A typed client object as the JSON dict the API served (camelCase keys)."""
    result: dict[str, Any] = api.sanitize_for_serialization(obj)
    return result


def _decode(data: Mapping[str, str] | None) -> dict[str, str]:
    return {k: base64.b64decode(v).decode("utf-8", errors="replace") for k, v in (data or {}).items()}


class ApiSource:
    """Reads what pods refer to; implements the env and volume sources."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)

    def server_address(self) -> tuple[str, int]:
        """The API server's host and port, as KUBERNETES_SERVICE_HOST/PORT for pods."""
        url = urllib.parse.urlsplit(self.api.configuration.host)
        return url.hostname or "127.0.0.1", url.port or 443

    def _read_raw(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        reader = (
            self.core.read_namespaced_config_map if kind == "configmap" else self.core.read_namespaced_secret
        )
        try:
            response: Any = reader(name, namespace, _preload_content=False)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        data: dict[str, Any] = json.loads(response.data)
        return data

    def config_map(self, namespace: str, name: str) -> dict[str, str] | None:
        """The ConfigMap's data (and binaryData as text), None when missing."""
        raw = self._read_raw("configmap", namespace, name)
        if raw is None:
            return None
        data = {str(k): str(v) for k, v in (raw.get("data") or {}).items()}
        data.update(_decode(raw.get("binaryData")))
        return data

    def secret(self, namespace: str, name: str) -> dict[str, str] | None:
        """The Secret's data, decoded, None when missing."""
        raw = self._read_raw("secret", namespace, name)
        if raw is None:
            return None
        data = _decode(raw.get("data"))
        data.update(raw.get("stringData") or {})
        return data

    def claim_host_path(self, namespace: str, claim: str) -> str:
        """The hostPath (or local path) of the PV bound to the claim."""
        try:
            pvc: Any = self.core.read_namespaced_persistent_volume_claim(claim, namespace)
        except ApiException as exc:
            if exc.status == 404:
                raise VolumeError(f'persistentvolumeclaim "{claim}" not found') from exc
            raise
        if (pvc.status.phase if pvc.status else None) != "Bound" or not pvc.spec.volume_name:
            raise VolumeError(f'persistentvolumeclaim "{claim}" is not bound')
        pv = self.core.read_persistent_volume(pvc.spec.volume_name)
        pv_spec: Any = pv.spec
        if pv_spec.host_path is not None:
            path = str(pv_spec.host_path.path)
        elif pv_spec.local is not None:
            path = str(pv_spec.local.path)
        else:
            raise UnsupportedVolume(
                f"persistentvolume {pvc.spec.volume_name!r} is neither hostPath nor local: the labkit node "
                "cannot mount it"
            )
        Path(path).mkdir(parents=True, exist_ok=True)
        return path

    def service_account_token(
        self,
        namespace: str,
        service_account: str,
        pod: Mapping[str, Any],
        audience: str | None,
        expiration_seconds: int,
    ) -> str:
        """A bound token from the TokenRequest API; the legacy token Secret when that API is off."""
        body: dict[str, Any] = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "expirationSeconds": max(600, expiration_seconds),
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": pod["metadata"]["name"],
                    "uid": pod["metadata"]["uid"],
                },
                **({"audiences": [audience]} if audience else {}),
            },
        }
        try:
            result: Any = self.core.create_namespaced_service_account_token(
                service_account, namespace, cast(Any, body)
            )
            return str(result.status.token)
        except ApiException as exc:
            if exc.status == 404 and "serviceaccount" in str(exc.body).lower():
                raise VolumeError(f'serviceaccount "{service_account}" not found') from exc
            legacy = self._legacy_token(namespace, service_account)
            if legacy is None:
                raise VolumeError(
                    f"cannot get a token for serviceaccount {namespace}/{service_account}: {exc.reason}"
                ) from exc
            return legacy

    def _legacy_token(self, namespace: str, service_account: str) -> str | None:
        try:
            sa = self.core.read_namespaced_service_account(service_account, namespace)
        except ApiException:
            return None
        for ref in sa.secrets or []:
            data = self.secret(namespace, str(ref.name))
            if data and data.get("token"):
                return data["token"]
        return None

    def ca_certificate(self) -> str:
        """The cluster CA (PEM) the kubeconfig trusts."""
        ca_file = self.api.configuration.ssl_ca_cert
        return Path(ca_file).read_text() if ca_file else ""

    def services(self, namespace: str) -> list[dict[str, Any]]:
        """The namespace's Services as dicts (for the service-link env variables)."""
        return [to_dict(self.api, s) for s in self.core.list_namespaced_service(namespace).items]
