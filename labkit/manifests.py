"""Load manifests into plain dicts (file, folder, Kustomize directory, dict, list) and prepare them.

Preparation is what the lab needs before a server-side apply: image rewrites (a CI tag for
``mcp-mesh/registry``) and ``protocol: TCP`` on port entries, which Kubernetes v1.20's server-side apply
requires (it rejects an associative-list element that omits a key field); and, when asked, a move into
another namespace, kustomize-style, so one set of files serves any namespace.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from labkit.errors import BadParameter, ManifestError
from labkit.paths import MANIFESTS, kubectl_path

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")

Source = str | os.PathLike[str] | Mapping[str, Any] | Sequence[Mapping[str, Any]]


def resolve_path(path: str | os.PathLike[str]) -> Path:
    """The path as given when it exists, else the same relative path under the kit's manifests/ folder."""
    candidate = Path(path).expanduser()
    if candidate.exists():
        return candidate
    if not candidate.is_absolute() and (MANIFESTS / candidate).exists():
        return MANIFESTS / candidate
    raise ManifestError(
        f"manifest path {str(path)!r} does not exist (looked in {Path.cwd()} and {MANIFESTS})"
    )


def is_kustomize_dir(path: Path) -> bool:
    """Whether path is a directory with a kustomization file."""
    return path.is_dir() and any((path / name).is_file() for name in KUSTOMIZATION_FILES)


def render_kustomize(path: Path) -> str:
    """Render a Kustomize directory with the real kubectl (``kubectl kustomize``) and return the YAML."""
    result = subprocess.run(
        [kubectl_path(), "kustomize", str(path)], capture_output=True, text=True, check=False, timeout=120
    )
    if result.returncode != 0:
        detail = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "no output"
        raise ManifestError(f"kubectl kustomize {path} failed: {detail}")
    return result.stdout


def parse_documents(text: str, origin: str) -> list[dict[str, Any]]:
    """Parse multi-document YAML (or JSON) text into objects, expanding ``kind: List``."""
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise ManifestError(f"{origin} is not valid YAML{line}: {getattr(exc, 'problem', exc)}") from None
    objects: list[dict[str, Any]] = []
    for index, document in enumerate(documents):
        if document is None:
            continue
        objects.extend(expand_lists(document, f"{origin} (document {index + 1})"))
    return objects


def expand_lists(document: object, origin: str) -> Iterator[dict[str, Any]]:
    """Yield the objects of one document: itself, or the items of a ``kind: List``; validate each."""
    if not isinstance(document, Mapping):
        raise ManifestError(f"{origin} is a {type(document).__name__}, not a Kubernetes object")
    if document.get("kind") == "List" or str(document.get("kind", "")).endswith("List"):
        for item in document.get("items") or []:
            yield from expand_lists(item, origin)
        return
    missing = [key for key in ("apiVersion", "kind") if not document.get(key)]
    name = (document.get("metadata") or {}).get("name")
    if not name:
        missing.append("metadata.name")
    if missing:
        raise ManifestError(f"{origin} lacks {', '.join(missing)}")
    yield copy.deepcopy(dict(document))


def load_path(path: Path) -> list[dict[str, Any]]:
    """Objects from a file, a Kustomize directory, or every manifest file directly in a folder (sorted)."""
    if is_kustomize_dir(path):
        return parse_documents(render_kustomize(path), f"kustomize {path}")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in MANIFEST_SUFFIXES)
        if not files:
            raise ManifestError(f"folder {path} holds no .yaml, .yml or .json manifests")
        return [obj for file in files for obj in load_path(file)]
    text = path.read_text()
    if path.suffix == ".json":
        try:
            return list(expand_lists(json.loads(text), str(path)))
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{path} is not valid JSON: {exc}") from None
    return parse_documents(text, str(path))


def load_objects(source: Source) -> list[dict[str, Any]]:
    """Turn any accepted manifest source into a list of independent object dicts."""
    if isinstance(source, str | os.PathLike):
        return load_path(resolve_path(source))
    if isinstance(source, Mapping):
        return list(expand_lists(source, "the given dict"))
    if isinstance(source, Sequence) and not isinstance(source, bytes):
        objects: list[dict[str, Any]] = []
        for index, item in enumerate(source):
            objects.extend(expand_lists(item, f"item {index} of the given list"))
        return objects
    raise BadParameter(
        f"source must be a path, a dict or a list of dicts, not {type(source).__name__} ({source!r})"
    )


def pod_specs(obj: Any) -> Iterator[dict[str, Any]]:
    """Every pod spec inside an object (Pod, workload templates, CronJob job templates)."""
    if isinstance(obj, dict):
        if isinstance(obj.get("containers"), list):
            yield obj
        for value in obj.values():
            yield from pod_specs(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from pod_specs(value)


def containers_of(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """A pod spec's containers and init containers."""
    return [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]


def image_repository(image: str) -> str:
    """An image reference without its tag or digest: ``mcp-mesh/registry:dev`` → ``mcp-mesh/registry``."""
    without_digest = image.split("@", 1)[0]
    last_slash = without_digest.rfind("/")
    colon = without_digest.rfind(":")
    return without_digest[:colon] if colon > last_slash else without_digest


def rewrite_images(objects: list[dict[str, Any]], images: Mapping[str, str]) -> None:
    """Replace container images in place: keys are repositories (or whole references), values new images."""
    if not isinstance(images, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in images.items()
    ):
        raise BadParameter(f"images must map image names to images (str → str), not {images!r}")
    for spec in (spec for obj in objects for spec in pod_specs(obj)):
        for container in containers_of(spec):
            image = container.get("image", "")
            replacement = images.get(image) or images.get(image_repository(image))
            if replacement:
                container["image"] = replacement


def fill_port_protocols(objects: list[dict[str, Any]]) -> None:
    """Set ``protocol: TCP`` where a Service port or container port omits it (v1.20 server-side apply)."""
    for obj in objects:
        if obj.get("kind") == "Service":
            for port in (obj.get("spec") or {}).get("ports") or []:
                port.setdefault("protocol", "TCP")
        for spec in pod_specs(obj):
            for container in containers_of(spec):
                for port in container.get("ports") or []:
                    port.setdefault("protocol", "TCP")


def retarget_namespace(
    objects: list[dict[str, Any]], namespace: str, is_namespaced: Callable[[dict[str, Any]], bool]
) -> None:
    """Move objects into ``namespace`` in place, as kustomize's ``namespace:`` field does.

    Namespaced objects get ``metadata.namespace``; a Namespace object is renamed; a (Cluster)RoleBinding's
    ServiceAccount subjects that lived in a namespace the objects came from follow them there.
    """
    moved_from: set[str] = set()
    for obj in objects:
        metadata = obj.setdefault("metadata", {})
        if obj.get("kind") == "Namespace":
            if metadata.get("name"):
                moved_from.add(metadata["name"])
            metadata["name"] = namespace
        elif is_namespaced(obj):
            if metadata.get("namespace"):
                moved_from.add(metadata["namespace"])
            metadata["namespace"] = namespace
    for obj in objects:
        if obj.get("kind") not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        for subject in obj.get("subjects") or []:
            if subject.get("kind") == "ServiceAccount" and subject.get("namespace") in moved_from:
                subject["namespace"] = namespace


def apply_order(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Namespaces and CustomResourceDefinitions first, everything else in the order given."""
    first = ("Namespace", "CustomResourceDefinition")
    return sorted(objects, key=lambda obj: 0 if obj.get("kind") in first else 1)
