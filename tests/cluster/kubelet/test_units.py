"""Unit tests of the kubelet node's pieces: address ranges, configuration, the DNS answers, the
Dockerfile parser, the OCI archive and the local registry's store."""

from __future__ import annotations

import io
import ipaddress
import json
import tarfile
from pathlib import Path
from types import SimpleNamespace

import dns.message
import dns.rcode
import pytest

from labkit.cluster.errors import ClusterError
from labkit.cluster.images.catalog import find_recipe
from labkit.cluster.images.dockerfile import parse
from labkit.cluster.images.layers import Entry, write_layer
from labkit.cluster.images.oci import ImageConfig, archive_digest, write_oci_archive
from labkit.cluster.images.registry import Store
from labkit.cluster.kubelet.components import kubelet_config
from labkit.cluster.kubelet.containerd import containerd_config
from labkit.cluster.kubelet.dns import answer, build_records
from labkit.cluster.kubelet.layout import NodeLayout
from labkit.cluster.kubelet.network import NodeNetwork
from labkit.cluster.kubelet.tools import NodeTools
from labkit.cluster.pki import Pki

REPO = Path(__file__).resolve().parents[3]


def test_every_block_gets_disjoint_ranges_inside_the_benchmark_range() -> None:
    benchmark = ipaddress.ip_network("198.18.0.0/15")
    seen: list[ipaddress.IPv4Network] = []
    for index in range(64):
        network = NodeNetwork(index)
        ranges = [network.pod_cidr, network.service_cidr, f"{network.host_ip}/30"]
        for text in ranges:
            block = ipaddress.ip_network(text, strict=False)
            assert block.subnet_of(benchmark)  # type: ignore[arg-type]
            assert not any(block.overlaps(other) for other in seen)
            seen.append(block)  # type: ignore[arg-type]
        assert network.contains(network.node_ip)
        assert not network.contains("10.0.0.1")


def test_containerd_keeps_its_state_under_the_node_layout(tmp_path: Path) -> None:
    layout, tools = NodeLayout(tmp_path / "node"), NodeTools(tmp_path / "tools")
    config = containerd_config(layout, tools, "http://198.18.2.1:5000")
    assert "restrict_oom_score_adj = true" in config
    assert "netns_mounts_under_state_dir = true" in config
    assert "/var/lib/containerd" not in config
    assert "/etc/containerd" not in config
    assert f'root = "{layout.containerd_root}"' in config


def test_kubelet_authenticates_every_caller(tmp_path: Path) -> None:
    config = kubelet_config(NodeLayout(tmp_path), NodeNetwork(3), Pki(tmp_path / "pki"))
    assert config["authentication"] == {
        "anonymous": {"enabled": False},
        "webhook": {"enabled": True, "cacheTTL": "30s"},
        "x509": {"clientCAFile": str(tmp_path / "pki" / "ca.crt")},
    }
    assert config["authorization"]["mode"] == "Webhook"  # type: ignore[index]
    assert config["readOnlyPort"] == 0


def _service(name: str, namespace: str, cluster_ip: str) -> SimpleNamespace:
    return SimpleNamespace(
        metadata=SimpleNamespace(name=name, namespace=namespace), spec=SimpleNamespace(cluster_ip=cluster_ip)
    )


def _endpoints(name: str, namespace: str, addresses: list[tuple[str, str | None]]) -> SimpleNamespace:
    subset = SimpleNamespace(addresses=[SimpleNamespace(ip=ip, hostname=host) for ip, host in addresses])
    return SimpleNamespace(metadata=SimpleNamespace(name=name, namespace=namespace), subsets=[subset])


def _ask(records: dict[str, tuple[str, ...]], name: str, kind: str = "A") -> dns.message.Message:
    return answer(dns.message.make_query(name, kind), records)


def test_dns_answers_services_headless_pods_and_nothing_else() -> None:
    services = [_service("web", "mesh", "198.19.0.20"), _service("db", "mesh", "None")]
    endpoints = [_endpoints("db", "mesh", [("198.18.0.7", "db-0"), ("198.18.0.8", "db-1")])]
    records = build_records(services, endpoints)
    web = _ask(records, "web.mesh.svc.cluster.local.")
    assert [item.to_text() for item in web.answer[0]] == ["198.19.0.20"]
    headless = _ask(records, "db.mesh.svc.cluster.local.")
    assert sorted(item.to_text() for item in headless.answer[0]) == ["198.18.0.7", "198.18.0.8"]
    pod = _ask(records, "db-1.db.mesh.svc.cluster.local.")
    assert [item.to_text() for item in pod.answer[0]] == ["198.18.0.8"]
    no_aaaa = _ask(records, "web.mesh.svc.cluster.local.", "AAAA")
    assert no_aaaa.rcode() == dns.rcode.NOERROR
    assert not no_aaaa.answer
    assert _ask(records, "web.other.svc.cluster.local.").rcode() == dns.rcode.NXDOMAIN
    assert _ask(records, "example.com.").rcode() == dns.rcode.NXDOMAIN


def test_the_kit_dockerfile_parses_into_its_two_stages() -> None:
    stages = parse((REPO / "registry" / "Dockerfile").read_text())
    assert [(stage.base, stage.name) for stage in stages] == [
        ("python:3.11-slim", "build"),
        ("python:3.11-slim", "1"),
    ]
    keywords = [instruction.keyword for instruction in stages[1].instructions]
    assert keywords[0] == "RUN"
    assert keywords[-1] == "CMD"
    env = next(item for item in stages[1].instructions if item.keyword == "ENV")
    assert "DATABASE_PATH=/data/registry.db" in env.arguments


def test_dockerfile_errors_name_the_line() -> None:
    with pytest.raises(ClusterError, match="line 1: RUN before FROM"):
        parse("RUN true\nFROM x\n")
    with pytest.raises(ClusterError, match="no FROM"):
        parse("# only a comment\n")


def test_unknown_image_names_are_refused_with_the_list() -> None:
    assert find_recipe("busybox").name == "docker.io/library/busybox:latest"
    assert find_recipe("mcp-mesh/registry:dev").name == "docker.io/mcp-mesh/registry:dev"
    with pytest.raises(ClusterError, match="labkit builds no image named 'nginx'; it builds: "):
        find_recipe("nginx")


def test_oci_archive_is_served_by_the_local_registry(tmp_path: Path) -> None:
    layer = write_layer([Entry("hello.txt", data=b"hi\n")], tmp_path / "layer.tar")
    archive = tmp_path / "images" / "x.oci.tar"
    digest = write_oci_archive(
        "docker.io/library/hello:1", [layer], ImageConfig(cmd=("cat", "/hello.txt")), archive
    )
    assert archive_digest(archive) == digest
    store = Store(tmp_path / "images")
    found = store.manifest("docker.io", "library/hello", "1")
    assert found is not None
    assert found[0] == digest
    manifest = json.loads(found[1])
    config = store.blob(manifest["config"]["digest"])
    assert config is not None
    assert json.loads(config.read())["config"]["Cmd"] == ["cat", "/hello.txt"]
    blob = store.blob(manifest["layers"][0]["digest"])
    assert blob is not None
    with tarfile.open(fileobj=io.BytesIO(blob.read())) as tar:
        extracted = tar.extractfile("hello.txt")
        assert extracted is not None
        assert extracted.read() == b"hi\n"
    assert store.manifest("docker.io", "library/hello", "2") is None
    assert store.manifest("quay.io", "library/hello", "1") is None


def test_a_missing_host_program_is_named_with_its_package(monkeypatch: pytest.MonkeyPatch) -> None:
    from labkit.cluster.errors import MissingPrerequisite
    from labkit.cluster.kubelet import tools

    monkeypatch.setattr(tools.shutil, "which", lambda name: None if name == "nsenter" else "/usr/bin/" + name)
    with pytest.raises(
        MissingPrerequisite, match="the program `nsenter` is missing: sudo apt-get install util-linux"
    ):
        tools.check_host()


def test_an_image_needing_a_missing_debian_package_names_it(tmp_path: Path) -> None:
    """The image build's downloads go through labkit's private apt: a package Debian does not have is
    named in the error, and nothing is unpacked."""
    from labkit.cluster.images.catalog import BuildContext, unpack_packages
    from labkit.cluster.kubelet.tools import ensure_node_tools

    tools = ensure_node_tools()
    context = BuildContext(tools.root.parents[1], tools, tmp_path / "build.log")
    with pytest.raises(ClusterError, match="needs Debian's package 'labkit-no-such-package'"):
        unpack_packages(context, ("labkit-no-such-package",), tmp_path / "root")
    assert not (tmp_path / "root").exists()


def test_only_a_fresh_provisioned_folder_is_opened_up(tmp_path: Path) -> None:
    from labkit.cluster.kubelet.volumes import open_up

    fresh, used = tmp_path / "fresh", tmp_path / "used"
    for folder in (fresh, used):
        folder.mkdir()
        folder.chmod(0o750)
    (used / "PG_VERSION").write_text("15\n")
    used.chmod(0o700)
    assert open_up(fresh)
    assert not open_up(fresh)  # once
    assert not open_up(used)
    assert (fresh.stat().st_mode & 0o777, used.stat().st_mode & 0o777) == (0o777, 0o700)


def test_the_node_binaries_never_come_from_path(tmp_path: Path) -> None:
    """A kubectl (or kubelet) on PATH is usually another version: the node's come from bin_dir or cache."""
    from labkit.cluster.binaries import cached_bin_dir, find_binary

    on_path, cache = tmp_path / "on-path", tmp_path / "cache"
    for folder in (on_path, cached_bin_dir(cache)):
        folder.mkdir(parents=True)
        for name in ("kubectl", "etcd"):
            (folder / name).write_text("#!/bin/sh\n")
            (folder / name).chmod(0o755)
    kubectl = find_binary("kubectl", None, str(on_path), cache)
    etcd = find_binary("etcd", None, str(on_path), cache)
    assert kubectl is not None
    assert etcd is not None
    assert (kubectl.source, etcd.source) == ("cache", "PATH")
