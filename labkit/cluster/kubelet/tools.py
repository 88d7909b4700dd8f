"""The node's programs from Debian's packages, downloaded and unpacked (``dpkg -x``) into labkit's cache.

containerd (with ``ctr`` and its runc shim), runc, the CNI plugins, and iptables with conntrack for
kube-proxy and the CNI portmap plugin. Nothing is installed on the machine: like etcd, the packages come
through labkit's private apt configuration, so the machine's ``/etc/containerd`` and ``/var/lib/containerd``
are never read or written. Programs that must be on the machine itself are checked by ``check_host``.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from labkit.cluster.builder.apt import SUITE, PrivateApt, extract_deb
from labkit.cluster.builder.toolchain import check_host_tools
from labkit.cluster.errors import ClusterError, MissingPrerequisite
from labkit.cluster.locks import exclusive_lock
from labkit.cluster.paths import cache_root

# Debian bookworm: containerd 1.6.20, runc 1.1.5, containernetworking-plugins 1.1.1, iptables 1.8.9.
NODE_PACKAGES = (
    "containerd",
    "runc",
    "containernetworking-plugins",
    "iptables",
    "libip4tc2",
    "libip6tc2",
    "libxtables12",
    "libnftnl11",
    "libnetfilter-conntrack3",
    "libnfnetlink0",
    "conntrack",
)
# iptables' alternatives (set up by its postinst, which dpkg -x does not run): the nf_tables backend.
IPTABLES_LINKS = {
    name: "xtables-nft-multi"
    for name in (
        "iptables",
        "iptables-save",
        "iptables-restore",
        "ip6tables",
        "ip6tables-save",
        "ip6tables-restore",
    )
}
# program on the machine -> the package that provides it
HOST_PROGRAMS = {
    "ip": "iproute2",
    "nsenter": "util-linux",
    "mount": "mount",
    "umount": "mount",
    "gcc": "gcc",
    "unshare": "util-linux",
    "chroot": "coreutils",
    "perl": "perl",
}
STATIC_LIBC = Path("/usr/lib/x86_64-linux-gnu/libc.a")  # gcc -static for the pause image
LAYOUT_VERSION = "1"


@dataclass(frozen=True)
class NodeTools:
    """Where the unpacked packages' programs are."""

    root: Path

    @property
    def bin(self) -> Path:
        return self.root / "usr" / "bin"

    @property
    def sbin(self) -> Path:
        return self.root / "usr" / "sbin"

    @property
    def containerd(self) -> Path:
        return self.bin / "containerd"

    @property
    def ctr(self) -> Path:
        return self.bin / "ctr"

    @property
    def runc(self) -> Path:
        return self.sbin / "runc"

    @property
    def cni_bin(self) -> Path:
        return self.root / "usr" / "lib" / "cni"

    @property
    def lib(self) -> Path:
        found = sorted((self.root / "usr" / "lib").glob("*-linux-gnu"))
        return found[0] if found else self.root / "usr" / "lib"

    def complete(self) -> bool:
        wanted = [self.containerd, self.ctr, self.runc, self.cni_bin / "bridge", self.sbin / "iptables"]
        return all(path.exists() for path in [*wanted, self.root / ".complete"])

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """An environment that finds these programs and libraries first (containerd, shims, iptables)."""
        env = dict(os.environ if base is None else base)
        env["PATH"] = os.pathsep.join([str(self.bin), str(self.sbin), env.get("PATH", "/usr/sbin:/usr/bin")])
        env["LD_LIBRARY_PATH"] = str(self.lib)
        env["XTABLES_LIBDIR"] = str(self.lib / "xtables")
        return env


def tools_dir(cache: Path | None = None) -> Path:
    return (cache or cache_root()) / "node-tools" / f"{SUITE}-{LAYOUT_VERSION}"


def check_host() -> None:
    """Raise MissingPrerequisite for the first program, kernel feature or privilege the node needs."""
    for program, package in HOST_PROGRAMS.items():
        if shutil.which(program) is None:
            raise MissingPrerequisite(f"the program `{program}`", f"sudo apt-get install {package}")
    if not STATIC_LIBC.is_file():
        raise MissingPrerequisite(f"the static C library {STATIC_LIBC}", "sudo apt-get install libc6-dev")
    if os.geteuid() != 0:
        raise ClusterError("the kubelet node makes network namespaces and cgroups: run it as root")
    if not Path("/proc/self/ns/net").exists():
        raise MissingPrerequisite("network namespaces (/proc/self/ns/net)", "a kernel with CONFIG_NET_NS")
    if not Path("/sys/fs/cgroup/memory").is_dir() and not Path("/sys/fs/cgroup/cgroup.controllers").is_file():
        raise MissingPrerequisite(
            "the memory cgroup (/sys/fs/cgroup/memory)", "a kernel with cgroups mounted"
        )


def ensure_node_tools(cache: Path | None = None, log: Path | None = None) -> NodeTools:
    """The unpacked node packages, downloading them once (under a lock) when they are not cached yet."""
    cache = cache or cache_root()
    tools = NodeTools(tools_dir(cache))
    if tools.complete():
        return tools
    check_host_tools()
    log = log or cache / "node-tools.log"
    with exclusive_lock(cache / "node-tools.lock"):
        if tools.complete():
            return tools
        started = time.monotonic()
        apt = PrivateApt(cache / "node-apt")
        apt.update(log)
        downloads = cache / "node-tools" / "downloads"
        if tools.root.exists():
            shutil.rmtree(tools.root)
        for package in NODE_PACKAGES:
            deb = apt.download(package, downloads, log)
            extract_deb(deb, tools.root, log)
        for name, target in IPTABLES_LINKS.items():
            link = tools.sbin / name
            link.unlink(missing_ok=True)
            link.symlink_to(target)
        if not (tools.sbin / "xtables-nft-multi").is_file():
            raise ClusterError(
                f"iptables did not contain usr/sbin/xtables-nft-multi (unpacked in {tools.root})"
            )
        (tools.root / ".complete").write_text(f"{time.monotonic() - started:.0f}s\n")
    if not tools.complete():
        raise ClusterError(f"the node packages are incomplete in {tools.root}; see {log}")
    return tools
