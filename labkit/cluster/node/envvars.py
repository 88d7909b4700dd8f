"""A container's environment as the kubelet builds it: envFrom, env, valueFrom and ``$(VAR)`` expansion."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


class ConfigError(Exception):
    """A container cannot start with this configuration (the kubelet's CreateContainerConfigError)."""


class ObjectSource(Protocol):
    """Where ConfigMap and Secret data come from (the API server; a dict in unit tests)."""

    def config_map(self, namespace: str, name: str) -> dict[str, str] | None:
        """The ConfigMap's data (binaryData decoded as text), or None when it does not exist."""

    def secret(self, namespace: str, name: str) -> dict[str, str] | None:
        """The Secret's data, base64-decoded, or None when it does not exist."""


def expand(text: str, lookup: Callable[[str], str | None]) -> str:
    """Kubernetes ``$(VAR)`` expansion: defined names are replaced, undefined ones left as written,
    ``$$`` is an escaped ``$``; any other ``$`` stays as it is (k8s.io/kubernetes third_party expansion).
    """
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    while cursor < len(text):
        if text[cursor] == "$" and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            rest = text[cursor + 1 :]
            if rest[0] == "$":
                out.append("$")
                advance = 1
            elif rest[0] == "(":
                close = rest.find(")", 1)
                if close == -1:
                    out.append("$(")
                    advance = 1
                else:
                    name = rest[1:close]
                    value = lookup(name)
                    out.append(value if value is not None else f"$({name})")
                    advance = close + 1
            else:
                out.append("$" + rest[0])
                advance = 1
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    out.append(text[checkpoint:])
    return "".join(out)


def field_value(pod: Mapping[str, Any], path: str) -> str:
    """The value of a downward-API ``fieldRef.fieldPath`` for this pod."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    simple: dict[str, Any] = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.hostIP": status.get("hostIP"),
        "status.podIP": status.get("podIP"),
        "status.podIPs": ",".join(ip.get("ip", "") for ip in status.get("podIPs") or []),
    }
    if path in simple:
        return str(simple[path] or "")
    if path in ("metadata.labels", "metadata.annotations"):
        items = meta.get(path.split(".")[1]) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(items.items()))
    raise ConfigError(f"unsupported fieldRef fieldPath {path!r}")


_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_SUFFIX = {
    "": 1.0,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 1024.0,
    "Mi": 1024.0**2,
    "Gi": 1024.0**3,
    "Ti": 1024.0**4,
}


def parse_quantity(text: str) -> float:
    """A Kubernetes resource quantity ("500m", "128Mi", "2") as a number."""
    match = _QUANTITY.match(str(text).strip())
    if not match or match.group(2) not in _SUFFIX:
        raise ConfigError(f"cannot read resource quantity {text!r}")
    return float(match.group(1)) * _SUFFIX[match.group(2)]


def resource_value(
    container: Mapping[str, Any], resource: str, divisor: str | None, node_allocatable: Mapping[str, str]
) -> str:
    """The value of a ``resourceFieldRef`` (limits fall back to the node's allocatable, as the kubelet)."""
    kind, _, name = resource.partition(".")
    resources = container.get("resources") or {}
    raw = (resources.get(kind) or {}).get(name)
    if raw is None:
        raw = node_allocatable.get(name, "0")
    amount = parse_quantity(str(raw)) / parse_quantity(divisor or "1")
    return str(max(1, math.ceil(amount)) if name == "cpu" else math.ceil(amount))


class EnvBuilder:
    """Builds one container's environment from the pod, its ConfigMaps/Secrets and the service links."""

    def __init__(
        self,
        pod: Mapping[str, Any],
        source: ObjectSource,
        *,
        service_env: Mapping[str, str] | None = None,
        node_allocatable: Mapping[str, str] | None = None,
    ) -> None:
        self.pod = pod
        self.namespace = str((pod.get("metadata") or {}).get("namespace", "default"))
        self.source = source
        self.service_env = dict(service_env or {})
        self.node_allocatable = dict(node_allocatable or {})
        self.warnings: list[str] = []

    def build(self, container: Mapping[str, Any]) -> dict[str, str]:
        """The environment, in the kubelet's order: envFrom, then env (each value expanded against
        what is defined so far plus the service variables), then service variables not yet defined."""
        env: dict[str, str] = {}
        for source in container.get("envFrom") or []:
            env.update(self._env_from(source))
        for var in container.get("env") or []:
            name = var["name"]
            if "valueFrom" in var and var["valueFrom"] is not None:
                value = self._value_from(container, var["valueFrom"])
                if value is None:
                    continue
                env[name] = value
            else:
                env[name] = expand(str(var.get("value") or ""), lambda n: env.get(n, self.service_env.get(n)))
        for name, value in self.service_env.items():
            env.setdefault(name, value)
        return env

    def _env_from(self, source: Mapping[str, Any]) -> dict[str, str]:
        prefix = str(source.get("prefix") or "")
        if source.get("configMapRef"):
            ref, kind = source["configMapRef"], "configmap"
            data = self.source.config_map(self.namespace, ref["name"])
        elif source.get("secretRef"):
            ref, kind = source["secretRef"], "secret"
            data = self.source.secret(self.namespace, ref["name"])
        else:
            raise ConfigError("envFrom entry has neither configMapRef nor secretRef")
        if data is None:
            if ref.get("optional"):
                return {}
            raise ConfigError(f'{kind} "{ref["name"]}" not found')
        out: dict[str, str] = {}
        for key, value in data.items():
            name = prefix + key
            if ENV_NAME.match(name):
                out[name] = value
            else:
                self.warnings.append(
                    f"Keys [{key}] from the EnvFrom {kind} {ref['name']} were skipped "
                    "since they are considered invalid environment variable names."
                )
        return out

    def _value_from(self, container: Mapping[str, Any], value_from: Mapping[str, Any]) -> str | None:
        if value_from.get("fieldRef"):
            return field_value(self.pod, value_from["fieldRef"]["fieldPath"])
        if value_from.get("resourceFieldRef"):
            ref = value_from["resourceFieldRef"]
            target = container
            if ref.get("containerName"):
                target = next(
                    (c for c in self.pod["spec"]["containers"] if c["name"] == ref["containerName"]),
                    container,
                )
            return resource_value(target, ref["resource"], ref.get("divisor"), self.node_allocatable)
        for field, kind in (("configMapKeyRef", "configmap"), ("secretKeyRef", "secret")):
            ref = value_from.get(field)
            if not ref:
                continue
            data = (
                self.source.config_map(self.namespace, ref["name"])
                if kind == "configmap"
                else self.source.secret(self.namespace, ref["name"])
            )
            if data is None:
                if ref.get("optional"):
                    return None
                raise ConfigError(f'{kind} "{ref["name"]}" not found')
            if ref["key"] not in data:
                if ref.get("optional"):
                    return None
                raise ConfigError(
                    f"couldn't find key {ref['key']} in {'ConfigMap' if kind == 'configmap' else 'Secret'} "
                    f"{self.namespace}/{ref['name']}"
                )
            return data[ref["key"]]
        raise ConfigError("unsupported valueFrom source")


def expand_command(words: list[str] | None, env: Mapping[str, str]) -> list[str]:
    """``$(VAR)`` expansion of a container's command or args against its final environment."""
    return [expand(str(word), env.get) for word in words or []]


def service_link_env(services: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The docker-links style variables the kubelet injects for the Services of the pod's namespace."""
    env: dict[str, str] = {}
    for svc in services:
        spec = svc.get("spec") or {}
        ip = spec.get("clusterIP")
        if not ip or ip == "None":
            continue
        prefix = str(svc["metadata"]["name"]).upper().replace("-", "_")
        ports = spec.get("ports") or []
        if not ports:
            continue
        env[f"{prefix}_SERVICE_HOST"] = ip
        env[f"{prefix}_SERVICE_PORT"] = str(ports[0]["port"])
        for port in ports:
            if port.get("name"):
                env[f"{prefix}_SERVICE_PORT_{str(port['name']).upper().replace('-', '_')}"] = str(
                    port["port"]
                )
        first = ports[0]
        proto = str(first.get("protocol") or "TCP")
        url = f"{proto.lower()}://{ip}:{first['port']}"
        env[f"{prefix}_PORT"] = url
        for port in ports:
            p_proto = str(port.get("protocol") or "TCP")
            base = f"{prefix}_PORT_{port['port']}_{p_proto}"
            env[base] = f"{p_proto.lower()}://{ip}:{port['port']}"
            env[f"{base}_PROTO"] = p_proto.lower()
            env[f"{base}_PORT"] = str(port["port"])
            env[f"{base}_ADDR"] = ip
    return env
