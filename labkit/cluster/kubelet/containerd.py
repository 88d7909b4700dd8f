"""containerd's configuration and command line for the node: all state under the node's layout.

Settings that matter on this machine and why:

- ``restrict_oom_score_adj``: the machine forbids a negative ``oom_score_adj``, and runc fails the pod
  sandbox ("can't get final child's PID from pipe: EOF") unless containerd keeps scores non-negative;
- ``netns_mounts_under_state_dir``: the pods' network namespaces are mounted under the node's state, not
  in the machine's ``/run/netns``;
- every registry is mirrored by labkit's local one (``labkit.cluster.images.registry``), and the node
  namespace has no route out, so an image that was not built here fails to pull at once
  (``ErrImagePull``), never after a network time-out;
- the CRI streaming server (exec, attach, port-forward) listens on the node namespace's loopback, where
  only the kubelet, which authenticates every caller, reaches it.
"""

from __future__ import annotations

import json

from labkit.cluster.kubelet.layout import NodeLayout
from labkit.cluster.kubelet.network import NodeNetwork
from labkit.cluster.kubelet.tools import NodeTools

SANDBOX_IMAGE = "registry.k8s.io/pause:3.2"
DISABLED_PLUGINS = (
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.tracing.processor.v1.otlp",
    "io.containerd.internal.v1.tracing",
)


def _toml(value: str) -> str:
    return json.dumps(value)


REGISTRY_PORT = 5000


def containerd_config(layout: NodeLayout, tools: NodeTools, registry: str = "") -> str:
    """containerd 1.6's config.toml (version 2) for this node; ``registry`` (``http://ip:port``) is the
    local registry that mirrors every registry."""
    cri = '[plugins."io.containerd.grpc.v1.cri"]'
    disabled = ", ".join(_toml(name) for name in DISABLED_PLUGINS)
    return "\n".join(
        [
            "version = 2",
            f"root = {_toml(str(layout.containerd_root))}",
            f"state = {_toml(str(layout.containerd_state))}",
            f"disabled_plugins = [{disabled}]",
            "oom_score = 0",
            "[grpc]",
            f"  address = {_toml(str(layout.containerd_socket))}",
            "[ttrpc]",
            f"  address = {_toml(str(layout.containerd_socket) + '.ttrpc')}",
            '[plugins."io.containerd.internal.v1.opt"]',
            f"  path = {_toml(str(layout.root / 'containerd' / 'opt'))}",
            cri,
            f"  sandbox_image = {_toml(SANDBOX_IMAGE)}",
            "  restrict_oom_score_adj = true",
            "  netns_mounts_under_state_dir = true",
            '  stream_server_address = "127.0.0.1"',
            '  stream_server_port = "0"',
            "  enable_selinux = false",
            "  max_container_log_line_size = 16384",
            f"{cri[:-1]}.containerd]",
            '  snapshotter = "overlayfs"',
            '  default_runtime_name = "runc"',
            "  discard_unpacked_layers = false",
            f"{cri[:-1]}.containerd.runtimes.runc]",
            '  runtime_type = "io.containerd.runc.v2"',
            f"{cri[:-1]}.containerd.runtimes.runc.options]",
            f"  BinaryName = {_toml(str(tools.runc))}",
            "  SystemdCgroup = false",
            f"{cri[:-1]}.cni]",
            f"  bin_dir = {_toml(str(tools.cni_bin))}",
            f"  conf_dir = {_toml(str(layout.cni_config_dir))}",
            "  max_conf_num = 1",
            *([f'{cri[:-1]}.registry.mirrors."*"]', f"  endpoint = [{_toml(registry)}]"] if registry else []),
            "",
        ]
    )


def cni_config(layout: NodeLayout, network: NodeNetwork) -> str:
    """The pod network: one bridge in the node namespace, host-local addresses, hairpin for Services."""
    conflist = {
        "cniVersion": "0.4.0",
        "name": "labkit",
        "plugins": [
            {
                "type": "bridge",
                "bridge": network.bridge,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(layout.cni_ipam_dir),
                    "ranges": [[{"subnet": network.pod_cidr, "gateway": network.pod_gateway}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    return json.dumps(conflist, indent=2)


def write_containerd_files(layout: NodeLayout, tools: NodeTools, network: NodeNetwork) -> None:
    layout.check()
    for directory in (layout.containerd_root, layout.containerd_state, layout.cni_config_dir):
        directory.mkdir(parents=True, exist_ok=True)
    registry = f"http://{network.host_ip}:{REGISTRY_PORT}"
    layout.containerd_config.write_text(containerd_config(layout, tools, registry))
    (layout.cni_config_dir / "10-labkit.conflist").write_text(cni_config(layout, network))


def containerd_command(layout: NodeLayout, tools: NodeTools) -> list[str]:
    return [str(tools.containerd), "--config", str(layout.containerd_config), "--log-level", "warn"]


def ctr_command(layout: NodeLayout, tools: NodeTools, *args: str) -> list[str]:
    """``ctr`` against this node's containerd, in the namespace the CRI plugin uses."""
    return [str(tools.ctr), "--address", str(layout.containerd_socket), "--namespace", "k8s.io", *args]
