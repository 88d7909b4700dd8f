"""Unit tests: the kubelet's env building and ``$(VAR)`` expansion."""

from __future__ import annotations

from typing import Any

import pytest

from labkit.cluster.node.envvars import (
    ConfigError,
    EnvBuilder,
    expand,
    expand_command,
    field_value,
    parse_quantity,
    service_link_env,
)


class Objects:
    """ConfigMaps and Secrets from dicts."""

    def __init__(self, config_maps: dict[str, dict[str, str]], secrets: dict[str, dict[str, str]]) -> None:
        self.config_maps = config_maps
        self.secrets = secrets

    def config_map(self, namespace: str, name: str) -> dict[str, str] | None:
        return self.config_maps.get(name)

    def secret(self, namespace: str, name: str) -> dict[str, str] | None:
        return self.secrets.get(name)


POD: dict[str, Any] = {
    "metadata": {"name": "web-0", "namespace": "lab", "uid": "u-1", "labels": {"app": "web"}},
    "spec": {"nodeName": "labkit-node", "serviceAccountName": "runner", "containers": [{"name": "main"}]},
    "status": {"podIP": "127.244.0.9", "podIPs": [{"ip": "127.244.0.9"}], "hostIP": "127.0.0.1"},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$(A)", "alpha"),
        ("x-$(A)-$(B)", "x-alpha-beta"),
        ("$(MISSING)", "$(MISSING)"),
        ("$$(A)", "$(A)"),
        ("$$$(A)", "$alpha"),
        ("$A", "$A"),
        ("$(A", "$(A"),
        ("end$", "end$"),
        ("", ""),
    ],
)
def test_expand_follows_kubernetes_rules(text: str, expected: str) -> None:
    assert expand(text, {"A": "alpha", "B": "beta"}.get) == expected


def test_field_values_of_the_downward_api() -> None:
    assert field_value(POD, "metadata.name") == "web-0"
    assert field_value(POD, "metadata.namespace") == "lab"
    assert field_value(POD, "status.podIP") == "127.244.0.9"
    assert field_value(POD, "spec.nodeName") == "labkit-node"
    assert field_value(POD, "spec.serviceAccountName") == "runner"
    assert field_value(POD, "metadata.labels['app']") == "web"
    with pytest.raises(ConfigError, match="unsupported fieldRef"):
        field_value(POD, "spec.nothing")


def test_env_order_prefix_optional_refs_and_expansion() -> None:
    objects = Objects({"cfg": {"COLOR": "blue", "1bad": "x"}}, {"sec": {"PASSWORD": "pw"}})
    builder = EnvBuilder(POD, objects, service_env={"DB_SERVICE_HOST": "127.96.0.5"})
    container = {
        "envFrom": [
            {"configMapRef": {"name": "cfg"}, "prefix": "CFG_"},
            {"secretRef": {"name": "sec"}},
            {"secretRef": {"name": "absent", "optional": True}},
        ],
        "env": [
            {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "ID", "value": "$(NAME)@$(DB_SERVICE_HOST)"},
            {"name": "LATER", "value": "$(DEFINED_AFTER)"},
            {"name": "DEFINED_AFTER", "value": "x"},
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "PASSWORD"}}},
            {
                "name": "OPT",
                "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "nope", "optional": True}},
            },
            {"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "COLOR"}}},
        ],
    }
    env = builder.build(container)
    assert env["CFG_COLOR"] == "blue"
    assert env["CFG_1bad"] == "x"  # a valid name once prefixed
    assert env["PASSWORD"] == "pw"
    assert env["ID"] == "web-0@127.96.0.5"
    assert env["LATER"] == "$(DEFINED_AFTER)"  # only earlier variables expand
    assert env["PW"] == "pw"
    assert "OPT" not in env
    assert env["DB_SERVICE_HOST"] == "127.96.0.5"
    assert builder.warnings == []

    bad = EnvBuilder(POD, objects).build({"envFrom": [{"configMapRef": {"name": "cfg"}}]})
    assert "1bad" not in bad


def test_invalid_names_from_env_from_are_skipped_with_a_warning() -> None:
    builder = EnvBuilder(POD, Objects({"cfg": {"1bad": "x", "GOOD": "y"}}, {}))
    env = builder.build({"envFrom": [{"configMapRef": {"name": "cfg"}}]})
    assert env == {"GOOD": "y"}
    assert "1bad" in builder.warnings[0]


@pytest.mark.parametrize(
    ("container", "message"),
    [
        ({"envFrom": [{"configMapRef": {"name": "absent"}}]}, 'configmap "absent" not found'),
        (
            {"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k"}}}]},
            "not found",
        ),
        (
            {"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "nope"}}}]},
            "couldn't find key nope in ConfigMap lab/cfg",
        ),
    ],
)
def test_missing_references_are_config_errors(container: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        EnvBuilder(POD, Objects({"cfg": {"A": "1"}}, {})).build(container)


def test_command_expansion_uses_the_final_environment() -> None:
    assert expand_command(["echo", "$(A)", "$$(A)", "$(B)"], {"A": "1"}) == ["echo", "1", "$(A)", "$(B)"]


def test_resource_field_ref_and_quantities() -> None:
    assert parse_quantity("500m") == 0.5
    assert parse_quantity("128Mi") == 128 * 1024**2
    with pytest.raises(ConfigError):
        parse_quantity("lots")
    container = {"name": "main", "resources": {"limits": {"memory": "64Mi"}}}
    builder = EnvBuilder(POD, Objects({}, {}), node_allocatable={"cpu": "2", "memory": "1Gi"})
    env = builder.build(
        {
            **container,
            "env": [
                {
                    "name": "MEM",
                    "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}},
                },
                {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
            ],
        }
    )
    assert env == {"MEM": "64", "CPU": "2"}


def test_service_link_variables() -> None:
    services = [
        {
            "metadata": {"name": "my-db"},
            "spec": {"clusterIP": "127.96.0.7", "ports": [{"name": "pg", "port": 5432}]},
        },
        {"metadata": {"name": "headless"}, "spec": {"clusterIP": "None", "ports": [{"port": 80}]}},
    ]
    env = service_link_env(services)
    assert env["MY_DB_SERVICE_HOST"] == "127.96.0.7"
    assert env["MY_DB_SERVICE_PORT"] == "5432"
    assert env["MY_DB_SERVICE_PORT_PG"] == "5432"
    assert env["MY_DB_PORT"] == "tcp://127.96.0.7:5432"
    assert env["MY_DB_PORT_5432_TCP_ADDR"] == "127.96.0.7"
    assert not any(key.startswith("HEADLESS") for key in env)
