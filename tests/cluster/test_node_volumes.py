"""Unit tests: a pod's volumes as host directories and each container's mounts."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from labkit.cluster.node.volumes import (
    AUTO_TOKEN_VOLUME,
    SERVICE_ACCOUNT_DIR,
    PodVolumes,
    UnsupportedVolume,
    VolumeError,
)


class Cluster:
    """The objects volumes read, from dicts."""

    def __init__(self, tmp_path: Path) -> None:
        self.config_maps = {"cfg": {"app.conf": "x=1", "other": "y"}}
        self.secrets = {"sec": {"password": "pw"}}
        self.claims = {"data": str(tmp_path / "pv-1")}
        self.tokens: list[tuple[str, str | None]] = []

    def config_map(self, namespace: str, name: str) -> dict[str, str] | None:
        return self.config_maps.get(name)

    def secret(self, namespace: str, name: str) -> dict[str, str] | None:
        return self.secrets.get(name)

    def claim_host_path(self, namespace: str, claim: str) -> str:
        if claim not in self.claims:
            raise VolumeError(f'persistentvolumeclaim "{claim}" is not bound')
        return self.claims[claim]

    def service_account_token(
        self,
        namespace: str,
        service_account: str,
        pod: Mapping[str, Any],
        audience: str | None,
        expiration: int,
    ) -> str:
        self.tokens.append((service_account, audience))
        return base64.b64encode(f"token-for-{service_account}".encode()).decode()

    def ca_certificate(self) -> str:
        return "-----BEGIN CERTIFICATE-----\n"


def pod(volumes: list[dict[str, Any]], mounts: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "lab", "uid": "u"},
        "spec": {
            "serviceAccountName": "runner",
            "volumes": volumes,
            "containers": [{"name": "main", "volumeMounts": mounts}],
            **spec,
        },
    }


def test_volume_kinds_become_files_and_mounts(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path)
    spec = pod(
        [
            {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
            {
                "name": "cfg",
                "configMap": {"name": "cfg", "items": [{"key": "app.conf", "path": "conf/app.conf"}]},
            },
            {"name": "sec", "secret": {"secretName": "sec", "defaultMode": 0o400}},
            {"name": "scratch", "emptyDir": {}},
            {
                "name": "info",
                "downwardAPI": {"items": [{"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]},
            },
        ],
        [
            {"name": "data", "mountPath": "/data"},
            {"name": "cfg", "mountPath": "/etc/app", "readOnly": True},
            {"name": "sec", "mountPath": "/etc/sec"},
            {"name": "scratch", "mountPath": "/tmp/scratch", "subPath": "sub"},
            {"name": "info", "mountPath": "/etc/info"},
        ],
    )
    volumes = PodVolumes(spec, tmp_path / "pod", cluster)
    paths = volumes.setup()
    assert paths["data"] == str(tmp_path / "pv-1")
    assert (Path(paths["cfg"]) / "conf" / "app.conf").read_text() == "x=1"
    assert not (Path(paths["cfg"]) / "other").exists()
    secret_file = Path(paths["sec"]) / "password"
    assert secret_file.read_text() == "pw"
    assert secret_file.stat().st_mode & 0o777 == 0o400
    assert (Path(paths["info"]) / "name").read_text() == "p"
    mounts = {m.target: m for m in volumes.mounts(spec["spec"]["containers"][0])}
    assert mounts["/etc/app"].readonly
    assert mounts["/tmp/scratch"].source == str(Path(paths["scratch"]) / "sub")
    # The automatic service-account volume: token (TokenRequest), ca.crt and namespace.
    token_dir = Path(mounts[SERVICE_ACCOUNT_DIR].source)
    assert sorted(p.name for p in token_dir.iterdir()) == ["ca.crt", "namespace", "token"]
    assert (token_dir / "namespace").read_text() == "lab"
    assert cluster.tokens == [("runner", None)]
    assert volumes.token_dir(spec["spec"]["containers"][0]) == str(token_dir)


def test_opting_out_of_the_token_and_an_explicit_token_mount(tmp_path: Path) -> None:
    none = pod([], [], automountServiceAccountToken=False)
    assert AUTO_TOKEN_VOLUME not in PodVolumes(none, tmp_path, Cluster(tmp_path)).setup()
    legacy = pod(
        [{"name": "default-token-abc", "secret": {"secretName": "sec"}}],
        [{"name": "default-token-abc", "mountPath": SERVICE_ACCOUNT_DIR, "readOnly": True}],
    )
    assert AUTO_TOKEN_VOLUME not in PodVolumes(legacy, tmp_path, Cluster(tmp_path)).setup()


def test_missing_objects_and_unbound_claims_are_volume_errors(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path)
    for volume, message in (
        ({"name": "v", "configMap": {"name": "absent"}}, 'configmap "absent" not found'),
        ({"name": "v", "secret": {"secretName": "sec", "items": [{"key": "nope", "path": "x"}]}}, "nope"),
        ({"name": "v", "persistentVolumeClaim": {"claimName": "pending"}}, "is not bound"),
    ):
        with pytest.raises(VolumeError, match=message):
            PodVolumes(pod([volume], []), tmp_path / "p", cluster).setup()
    optional = pod([{"name": "v", "configMap": {"name": "absent", "optional": True}}], [])
    assert "v" in PodVolumes(optional, tmp_path / "p", cluster).setup()


def test_unsupported_volume_types_are_named(tmp_path: Path) -> None:
    spec = pod([{"name": "nfs-data", "nfs": {"server": "x", "path": "/"}}], [])
    volumes = PodVolumes(spec, tmp_path, Cluster(tmp_path))
    assert volumes.unsupported() == ["volume 'nfs-data' of type nfs"]
    with pytest.raises(UnsupportedVolume, match="nfs is not supported"):
        volumes.setup()
