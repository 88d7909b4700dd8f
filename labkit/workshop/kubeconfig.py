"""The workshop's kubeconfig: a small file of labkit's own in front of the cluster's kubeconfig.

``KUBECONFIG=<workshop file>:<cluster's file>``: the workshop file holds only the current context and
that context with the lab's namespace (what the guide's ``kubectl config set-context --current
--namespace=...`` writes); clusters and users come from the cluster's file. The local cluster rewrites its
own file on every start, and the namespace survives, since it lives in the workshop file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from labkit.errors import LabError


def default_kubeconfigs() -> list[str]:
    """The kubeconfig files kubectl would read: ``$KUBECONFIG`` or ``~/.kube/config``."""
    listed = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    return listed or [str(Path.home() / ".kube" / "config")]


def find_context(files: list[str], context: str | None) -> tuple[str, dict[str, Any]]:
    """The named context (None: the current one) from the first file that has it, as (name, context)."""
    configs = []
    for name in files:
        try:
            configs.append(yaml.safe_load(Path(name).read_text()) or {})
        except FileNotFoundError:
            continue
        except (OSError, yaml.YAMLError) as exc:
            raise LabError(f"the kubeconfig {name} cannot be read: {exc}") from None
    if context is None:
        context = next((c.get("current-context") for c in configs if c.get("current-context")), None)
        if not context:
            raise LabError(
                f"the kubeconfig ({os.pathsep.join(files)}) has no current context: pick one with --context"
            )
    known: list[str] = []
    for config in configs:
        for entry in config.get("contexts") or []:
            known.append(str(entry.get("name")))
            if entry.get("name") == context:
                return context, dict(entry.get("context") or {})
    raise LabError(
        f"there is no context {context!r} in the kubeconfig ({os.pathsep.join(files)}; it has: "
        f"{', '.join(known) or 'none'}): pick one with --context, or leave it out for the local cluster"
    )


def write_workshop_kubeconfig(path: Path, files: list[str], context: str | None, namespace: str) -> str:
    """Write the workshop file for the context with the namespace set; return the KUBECONFIG value."""
    name, entry = find_context(files, context)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [],
        "users": [],
        "contexts": [{"name": name, "context": {**entry, "namespace": namespace}}],
        "current-context": name,
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return os.pathsep.join([str(path), *files])
