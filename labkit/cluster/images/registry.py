"""A read-only image registry (the OCI distribution API's pull side) serving the images built here.

containerd uses it as the mirror of every registry, so a pod whose image has ``imagePullPolicy:
Always`` (any ``:latest`` tag) pulls the local build, as a node with a registry would. A name labkit does
not build gets 404, containerd then tries the real registry, and that fails at once: the node has no
route off the machine. Run as ``python -m labkit.cluster.images.registry LISTEN_IP PORT IMAGES_DIR``.

The archives are read in place (each blob is a member of an OCI archive tar); the folder is scanned
again when it changes, so ``labkit image build`` needs no restart.
"""

from __future__ import annotations

import json
import sys
import tarfile
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


@dataclass(frozen=True)
class Blob:
    archive: Path
    offset: int
    size: int

    def read(self) -> bytes:
        with self.archive.open("rb") as stream:
            stream.seek(self.offset)
            return stream.read(self.size)


def split_reference(name: str) -> tuple[str, str, str]:
    """``docker.io/library/busybox:latest`` -> (``docker.io``, ``library/busybox``, ``latest``)."""
    host, _, rest = name.partition("/")
    repository, _, tag = rest.rpartition(":")
    return host, repository, tag


class Store:
    """Blobs by digest and manifests by (host, repository, tag), read from the archives in a folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._stamp: tuple[tuple[str, float], ...] = ()
        self.blobs: dict[str, Blob] = {}
        self.tags: dict[tuple[str, str, str], str] = {}

    def _scan(self) -> None:
        # Oldest first, so a name in several archives (an older build kept in the cache) is the newest's.
        archives = sorted(self.folder.glob("*.oci.tar"), key=lambda path: (path.stat().st_mtime, path.name))
        stamp = tuple((path.name, path.stat().st_mtime) for path in archives)
        if stamp == self._stamp:
            return
        blobs: dict[str, Blob] = {}
        tags: dict[tuple[str, str, str], str] = {}
        for archive in archives:
            with tarfile.open(archive) as tar:
                index = None
                for member in tar.getmembers():
                    if member.name.startswith("blobs/sha256/"):
                        digest = "sha256:" + member.name.rsplit("/", 1)[1]
                        blobs[digest] = Blob(archive, member.offset_data, member.size)
                    elif member.name == "index.json":
                        extracted = tar.extractfile(member)
                        index = json.loads(extracted.read()) if extracted else None
            for manifest in (index or {}).get("manifests", []):
                name = manifest.get("annotations", {}).get("io.containerd.image.name")
                if name:
                    tags[split_reference(name)] = manifest["digest"]
        self.blobs, self.tags, self._stamp = blobs, tags, stamp

    def manifest(self, host: str, repository: str, reference: str) -> tuple[str, bytes] | None:
        with self._lock:
            self._scan()
            digest = (
                reference if reference.startswith("sha256:") else self.tags.get((host, repository, reference))
            )
            blob = self.blobs.get(digest) if digest else None
        return (digest, blob.read()) if digest and blob else None

    def blob(self, digest: str) -> Blob | None:
        with self._lock:
            self._scan()
            return self.blobs.get(digest)


def make_handler(store: Store) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

        def _empty(self, status: HTTPStatus) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.send_header("Docker-Distribution-API-Version", "registry/2.0")
            self.end_headers()

        def _serve(self, body: bool) -> None:
            url = urlsplit(self.path)
            host = parse_qs(url.query).get("ns", ["docker.io"])[0]
            parts = url.path.strip("/").split("/")
            if parts == ["v2"]:
                return self._empty(HTTPStatus.OK)
            if len(parts) < 4 or parts[0] != "v2" or parts[-2] not in ("manifests", "blobs"):
                return self._empty(HTTPStatus.NOT_FOUND)
            repository, kind, reference = "/".join(parts[1:-2]), parts[-2], parts[-1]
            if kind == "manifests":
                found = store.manifest(host, repository, reference)
                if found is None:
                    return self._empty(HTTPStatus.NOT_FOUND)
                digest, data = found
                content_type = MANIFEST_TYPE
            else:
                blob = store.blob(reference)
                if blob is None:
                    return self._empty(HTTPStatus.NOT_FOUND)
                digest, data, content_type = reference, blob.read(), "application/octet-stream"
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Docker-Content-Digest", digest)
            self.send_header("Docker-Distribution-API-Version", "registry/2.0")
            self.end_headers()
            if body:
                self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve(body=True)

        def do_HEAD(self) -> None:
            self._serve(body=False)

    return Handler


def serve(listen_ip: str, port: int, folder: Path) -> None:
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer((listen_ip, port), make_handler(Store(folder))).serve_forever()


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m labkit.cluster.images.registry LISTEN_IP PORT IMAGES_DIR", file=sys.stderr)
        return 2
    serve(argv[0], int(argv[1]), Path(argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
