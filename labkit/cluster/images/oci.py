"""Write a single-platform OCI image archive (the layout ``ctr images import`` reads) from layer tars.

Layers are stored uncompressed, so each layer's digest is also its diff ID.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CREATED = "2021-01-13T13:20:00Z"  # fixed, so the same inputs give the same image digest


@dataclass(frozen=True)
class ImageConfig:
    """The parts of an image's config that decide how a container runs."""

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
    working_dir: str = ""
    user: str = ""
    exposed_ports: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    stop_signal: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        config: dict[str, object] = {"Env": list(self.env)}
        if self.entrypoint:
            config["Entrypoint"] = list(self.entrypoint)
        if self.cmd:
            config["Cmd"] = list(self.cmd)
        if self.working_dir:
            config["WorkingDir"] = self.working_dir
        if self.user:
            config["User"] = self.user
        if self.exposed_ports:
            config["ExposedPorts"] = {port: {} for port in self.exposed_ports}
        if self.volumes:
            config["Volumes"] = {volume: {} for volume in self.volumes}
        if self.stop_signal:
            config["StopSignal"] = self.stop_signal
        if self.labels:
            config["Labels"] = dict(self.labels)
        return config


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _file_digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return "sha256:" + digest.hexdigest(), size


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    archive.addfile(info, io.BytesIO(data))


def write_oci_archive(
    name: str | Sequence[str], layers: Iterable[Path], config: ImageConfig, output: Path
) -> str:
    """Write ``output`` (an OCI archive of image ``name``, e.g. ``docker.io/library/busybox:latest``, or
    of several names for one image: ``busybox:latest`` and ``busybox:1.36``); returns the manifest digest."""
    names = [name] if isinstance(name, str) else list(name)
    layer_entries = []
    for layer in layers:
        digest, size = _file_digest(layer)
        layer_entries.append((layer, digest, size))
    image_config = {
        "created": CREATED,
        "architecture": "amd64",
        "os": "linux",
        "config": config.as_json(),
        "rootfs": {"type": "layers", "diff_ids": [digest for _, digest, _ in layer_entries]},
        "history": [{"created": CREATED, "created_by": "labkit image build"} for _ in layer_entries],
    }
    config_bytes = json.dumps(image_config, sort_keys=True).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": _digest(config_bytes),
            "size": len(config_bytes),
        },
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": size}
            for _, digest, size in layer_entries
        ],
    }
    manifest_bytes = json.dumps(manifest, sort_keys=True).encode()
    manifest_digest = _digest(manifest_bytes)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": len(manifest_bytes),
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {
                    "io.containerd.image.name": one,
                    "org.opencontainers.image.ref.name": _tag(one),
                },
            }
            for one in names
        ],
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as archive:
        _add_bytes(archive, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
        _add_bytes(archive, "index.json", json.dumps(index).encode())
        _add_bytes(archive, f"blobs/sha256/{manifest_digest[7:]}", manifest_bytes)
        _add_bytes(archive, f"blobs/sha256/{_digest(config_bytes)[7:]}", config_bytes)
        for layer, digest, _ in layer_entries:
            archive.add(str(layer), arcname=f"blobs/sha256/{digest[7:]}")
    partial.replace(output)
    return manifest_digest


def _tag(name: str) -> str:
    return name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else "latest"


def archive_digest(archive: Path) -> str:
    """The manifest digest an OCI archive's index names (what ``ctr images ls`` shows once imported)."""
    with tarfile.open(archive) as tar:
        member = tar.extractfile("index.json")
        index = json.loads(member.read()) if member else {}
    manifests = index.get("manifests") or [{}]
    return str(manifests[0].get("digest", ""))
