"""A pod's volumes as host directories, and each container's mounts onto them."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from labkit.cluster.node.envvars import ConfigError, ObjectSource, field_value

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
AUTO_TOKEN_VOLUME = "kube-api-access-labkit"
SUPPORTED = (
    "emptyDir",
    "persistentVolumeClaim",
    "configMap",
    "secret",
    "projected",
    "downwardAPI",
    "hostPath",
)


class VolumeError(Exception):
    """A volume cannot be set up yet (missing object, unbound claim): the kubelet's FailedMount."""


class UnsupportedVolume(VolumeError):
    """A volume type this node cannot provide; the pod can never start."""


class VolumeSource(ObjectSource, Protocol):
    """Everything volumes need from the cluster."""

    def claim_host_path(self, namespace: str, claim: str) -> str:
        """The host directory behind a bound PersistentVolumeClaim; VolumeError when not bound."""

    def service_account_token(
        self,
        namespace: str,
        service_account: str,
        pod: Mapping[str, Any],
        audience: str | None,
        expiration_seconds: int,
    ) -> str:
        """A token for the pod's service account (TokenRequest API)."""

    def ca_certificate(self) -> str:
        """The cluster CA certificate (PEM)."""


@dataclass(frozen=True)
class Mount:
    """A host path mounted at a path in the container."""

    source: str
    target: str
    readonly: bool


def _write_files(directory: Path, files: Mapping[str, tuple[str, int]]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for relative, (content, mode) in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != content:
            tmp = path.with_name(path.name + ".labkit-tmp")
            tmp.write_text(content)
            tmp.replace(path)
        os.chmod(path, mode)


def _select_keys(
    data: Mapping[str, str], items: list[dict[str, Any]] | None, default_mode: int, what: str
) -> dict[str, tuple[str, int]]:
    if not items:
        return {key: (value, default_mode) for key, value in data.items()}
    out: dict[str, tuple[str, int]] = {}
    for item in items:
        if item["key"] not in data:
            if item.get("optional"):
                continue
            raise VolumeError(
                f"configmap references non-existent config key: {item['key']}"
                if what == "configmap"
                else f"references non-existent secret key: {item['key']}"
            )
        out[item["path"]] = (data[item["key"]], int(item.get("mode") or default_mode))
    return out


class PodVolumes:
    """Materialises a pod's volumes under ``root`` (its directory on the host)."""

    def __init__(self, pod: Mapping[str, Any], root: Path, source: VolumeSource) -> None:
        self.pod = pod
        self.root = root
        self.source = source
        self.namespace = str(pod["metadata"]["namespace"])
        self.paths: dict[str, str] = {}
        self._tokens: dict[tuple[str, str | None, int], tuple[str, float]] = {}
        self._fs_group_applied = False

    def volumes(self) -> list[dict[str, Any]]:
        """The pod's volumes plus, unless opted out, the service-account token volume."""
        spec = self.pod["spec"]
        volumes = list(spec.get("volumes") or [])
        if self._wants_auto_token():
            volumes.append(
                {
                    "name": AUTO_TOKEN_VOLUME,
                    "projected": {
                        "sources": [
                            {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
                            {
                                "configMap": {
                                    "name": "kube-root-ca.crt",
                                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                                }
                            },
                            {
                                "downwardAPI": {
                                    "items": [
                                        {"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}
                                    ]
                                }
                            },
                        ]
                    },
                }
            )
        return volumes

    def _wants_auto_token(self) -> bool:
        spec = self.pod["spec"]
        if spec.get("automountServiceAccountToken") is False:
            return False
        return not any(
            m.get("mountPath", "").rstrip("/") == SERVICE_ACCOUNT_DIR
            for c in spec.get("containers") or []
            for m in c.get("volumeMounts") or []
        )

    def unsupported(self) -> list[str]:
        """Names and types of volumes this node cannot provide (checked before anything starts)."""
        problems = []
        for volume in self.volumes():
            kinds = [k for k in volume if k != "name"]
            if not any(k in SUPPORTED for k in kinds):
                problems.append(f"volume {volume['name']!r} of type {', '.join(kinds) or 'unknown'}")
        return problems

    def setup(self) -> dict[str, str]:
        """Create or refresh every volume; return volume name → host path. Raises VolumeError."""
        paths: dict[str, str] = {}
        for volume in self.volumes():
            try:
                paths[volume["name"]] = self._setup_one(volume)
            except UnsupportedVolume:
                raise
            except VolumeError as exc:
                raise VolumeError(f'for volume "{volume["name"]}" : {exc}') from exc
        self.paths = paths
        fs_group = (self.pod["spec"].get("securityContext") or {}).get("fsGroup")
        if fs_group is not None and not self._fs_group_applied:
            self._apply_fs_group(int(fs_group))
            self._fs_group_applied = True
        return paths

    def _apply_fs_group(self, gid: int) -> None:
        """The kubelet's fsGroup: volumes (not hostPath) belong to the group, group-writable."""
        for volume in self.volumes():
            if "hostPath" in volume or volume["name"] not in self.paths:
                continue
            for root, _dirs, files in os.walk(self.paths[volume["name"]]):
                for name in [root, *(os.path.join(root, f) for f in files)]:
                    os.chown(name, -1, gid)
                    extra = 0o2070 if os.path.isdir(name) else 0o060
                    os.chmod(name, os.stat(name).st_mode | extra)

    def _setup_one(self, volume: Mapping[str, Any]) -> str:
        name = volume["name"]
        directory = self.root / "volumes" / name
        if "emptyDir" in volume:
            directory.mkdir(parents=True, exist_ok=True)
            return str(directory)
        if "hostPath" in volume:
            path = str(volume["hostPath"]["path"])
            if volume["hostPath"].get("type") in ("DirectoryOrCreate", None, ""):
                Path(path).mkdir(parents=True, exist_ok=True)
            return path
        if "persistentVolumeClaim" in volume:
            return self.source.claim_host_path(self.namespace, volume["persistentVolumeClaim"]["claimName"])
        if "configMap" in volume or "secret" in volume:
            _write_files(directory, self._object_files(volume))
            return str(directory)
        if "downwardAPI" in volume:
            _write_files(directory, self._downward_files(volume["downwardAPI"]))
            return str(directory)
        if "projected" in volume:
            _write_files(directory, self._projected_files(volume["projected"]))
            return str(directory)
        kinds = ", ".join(k for k in volume if k != "name")
        raise UnsupportedVolume(f"volume {name!r}: type {kinds} is not supported by the labkit node")

    def _object_files(
        self, volume: Mapping[str, Any], default: int | None = None
    ) -> dict[str, tuple[str, int]]:
        if "configMap" in volume:
            ref, kind = volume["configMap"], "configmap"
            data = self.source.config_map(self.namespace, ref["name"])
        else:
            ref, kind = volume["secret"], "secret"
            data = self.source.secret(self.namespace, ref.get("secretName") or ref.get("name"))
        mode = int(ref.get("defaultMode") or default or 0o644)
        if data is None:
            if ref.get("optional"):
                return {}
            shown = ref.get("name") or ref.get("secretName")
            raise VolumeError(f'{kind} "{shown}" not found')
        return _select_keys(data, ref.get("items"), mode, kind)

    def _downward_files(
        self, spec: Mapping[str, Any], default: int | None = None
    ) -> dict[str, tuple[str, int]]:
        mode = int(spec.get("defaultMode") or default or 0o644)
        files = {}
        for item in spec.get("items") or []:
            if "fieldRef" not in item:
                raise UnsupportedVolume(
                    "downwardAPI resourceFieldRef items are not supported by the labkit node"
                )
            try:
                value = field_value(self.pod, item["fieldRef"]["fieldPath"])
            except ConfigError as exc:
                raise UnsupportedVolume(str(exc)) from exc
            files[item["path"]] = (value, int(item.get("mode") or mode))
        return files

    def _projected_files(self, projected: Mapping[str, Any]) -> dict[str, tuple[str, int]]:
        mode = int(projected.get("defaultMode") or 0o644)
        files: dict[str, tuple[str, int]] = {}
        for source in projected.get("sources") or []:
            if "configMap" in source:
                if source["configMap"].get("name") == "kube-root-ca.crt":
                    files["ca.crt"] = (self.source.ca_certificate(), mode)
                    continue
                files.update(self._object_files({"configMap": source["configMap"]}, mode))
            elif "secret" in source:
                files.update(self._object_files({"secret": source["secret"]}, mode))
            elif "downwardAPI" in source:
                files.update(self._downward_files(source["downwardAPI"], mode))
            elif "serviceAccountToken" in source:
                token_spec = source["serviceAccountToken"]
                token = self._token(
                    str(self.pod["spec"].get("serviceAccountName") or "default"),
                    token_spec.get("audience"),
                    int(token_spec.get("expirationSeconds") or 3600),
                )
                files[token_spec["path"]] = (token, 0o600 if mode == 0o644 else mode)
            else:
                raise UnsupportedVolume(
                    f"projected source {sorted(source)} is not supported by the labkit node"
                )
        return files

    def _token(self, service_account: str, audience: str | None, expiration: int) -> str:
        """A token, requested again once 80 % of its lifetime has passed (as the kubelet does)."""
        key = (service_account, audience, expiration)
        cached = self._tokens.get(key)
        if cached is not None and time.monotonic() - cached[1] < 0.8 * max(600, expiration):
            return cached[0]
        token = self.source.service_account_token(
            self.namespace, service_account, self.pod, audience, expiration
        )
        self._tokens[key] = (token, time.monotonic())
        return token

    def mounts(self, container: Mapping[str, Any]) -> list[Mount]:
        """The container's mounts (after ``setup``), plus the automatic token volume."""
        out = []
        for mount in container.get("volumeMounts") or []:
            name = mount["name"]
            if name not in self.paths:
                raise ConfigError(f"volumeMount {name!r} names no volume of the pod")
            source = self.paths[name]
            if mount.get("subPath"):
                source = os.path.join(source, mount["subPath"])
                if not os.path.exists(source):
                    os.makedirs(source, exist_ok=True)
            out.append(Mount(source, str(mount["mountPath"]), bool(mount.get("readOnly"))))
        if AUTO_TOKEN_VOLUME in self.paths:
            out.append(Mount(self.paths[AUTO_TOKEN_VOLUME], SERVICE_ACCOUNT_DIR, True))
        return out

    def token_dir(self, container: Mapping[str, Any]) -> str | None:
        """The host directory the container sees as the service-account directory, if any."""
        for mount in self.mounts(container):
            if mount.target.rstrip("/") == SERVICE_ACCOUNT_DIR:
                return mount.source
        return None
