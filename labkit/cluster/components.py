"""The state directory's layout and the command line of each component of the local cluster.

Every component binds 127.0.0.1 only. etcd speaks plain HTTP on loopback; everything else is TLS with
the cluster CA. Insecure ports of v1.20 (apiserver 8080, controller-manager 10252, scheduler 10251) are
switched off.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from labkit.cluster.pki import Pki

HOST = "127.0.0.1"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
COMPONENT_ORDER = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "node")
CONTROL_PLANE = COMPONENT_ORDER[:-1]


@dataclass(frozen=True)
class Ports:
    """The loopback ports the components listen on."""

    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def of(self, component: str) -> int | None:
        """The main port of a component (None for the node, whose ports belong to its network)."""
        return {
            "etcd": self.etcd_client,
            "kube-apiserver": self.apiserver,
            "kube-controller-manager": self.controller_manager,
            "kube-scheduler": self.scheduler,
        }.get(component)


@dataclass(frozen=True)
class StateLayout:
    """Where each file of the cluster's state directory lives."""

    root: Path

    @property
    def pki(self) -> Pki:
        return Pki(self.root / "pki")

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig handed to users (context ``labkit``)."""
        return self.root / "kubeconfig"

    def component_kubeconfig(self, component: str) -> Path:
        return self.root / "kubeconfigs" / f"{component}.kubeconfig"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def node_state(self) -> Path:
        return self.root / "node"

    @property
    def cluster_file(self) -> Path:
        return self.root / "cluster.json"

    @property
    def lock_file(self) -> Path:
        return self.root / ".lock"

    @property
    def node_code_file(self) -> Path:
        """The digest of labkit's node code the running node was started with."""
        return self.root / "run" / "node.code"

    def log(self, component: str) -> Path:
        return self.root / "logs" / f"{component}.log"

    def pid_file(self, component: str) -> Path:
        return self.root / "run" / f"{component}.pid"


def etcd_command(binary: Path, layout: StateLayout, ports: Ports) -> list[str]:
    client = f"http://{HOST}:{ports.etcd_client}"
    peer = f"http://{HOST}:{ports.etcd_peer}"
    return [
        str(binary),
        "--name=labkit",
        f"--data-dir={layout.etcd_data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=labkit={peer}",
        "--initial-cluster-state=new",
        "--listen-metrics-urls=",
        "--quota-backend-bytes=2147483648",
        "--snapshot-count=10000",
        "--log-level=warn",
    ]


def apiserver_command(
    binary: Path, layout: StateLayout, ports: Ports, service_cidr: str, advertise_address: str = HOST
) -> list[str]:
    """ClusterIPs come from ``service_cidr`` (the node network's Service range).

    ``advertise_address`` is the ``kubernetes`` Service's endpoint: the API relay's address on the node
    link (pods cannot reach the machine's loopback).
    """
    pki = layout.pki
    return [
        str(binary),
        f"--etcd-servers=http://{HOST}:{ports.etcd_client}",
        f"--bind-address={HOST}",
        f"--advertise-address={advertise_address}",
        f"--secure-port={ports.apiserver}",
        "--insecure-port=0",
        f"--tls-cert-file={pki.apiserver_cert}",
        f"--tls-private-key-file={pki.apiserver_key}",
        f"--client-ca-file={pki.ca_cert}",
        f"--service-cluster-ip-range={service_cidr}",
        f"--service-account-key-file={pki.service_account_pub}",
        f"--service-account-signing-key-file={pki.service_account_key}",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        f"--api-audiences={SERVICE_ACCOUNT_ISSUER}",
        "--authorization-mode=RBAC",
        "--allow-privileged=true",
        "--enable-admission-plugins=NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultStorageClass,"
        "DefaultTolerationSeconds,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ResourceQuota,"
        "StorageObjectInUseProtection,PersistentVolumeClaimResize,Priority,RuntimeClass,"
        "CertificateApproval,CertificateSigning,CertificateSubjectRestriction,DefaultIngressClass",
        # logs, exec and port-forward reach the kubelet at its InternalIP and port, with this identity.
        f"--kubelet-client-certificate={pki.client_cert('apiserver-kubelet-client')}",
        f"--kubelet-client-key={pki.client_key('apiserver-kubelet-client')}",
        "--kubelet-preferred-address-types=InternalIP,Hostname",
        "--profiling=false",
        "--event-ttl=1h",
    ]


def _api_client_component(binary: Path, kubeconfig: Path, secure_port: int) -> list[str]:
    """Flags the controller-manager and the scheduler share: API access, loopback serving, one replica."""
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--bind-address={HOST}",
        f"--secure-port={secure_port}",
        "--port=0",
        "--leader-elect=false",
        "--profiling=false",
    ]


def controller_manager_command(
    binary: Path, layout: StateLayout, ports: Ports, service_cidr: str
) -> list[str]:
    pki = layout.pki
    kubeconfig = layout.component_kubeconfig("kube-controller-manager")
    return [
        *_api_client_component(binary, kubeconfig, ports.controller_manager),
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={pki.service_account_key}",
        f"--root-ca-file={pki.ca_cert}",
        f"--cluster-signing-cert-file={pki.ca_cert}",
        f"--cluster-signing-key-file={pki.ca_key}",
        f"--service-cluster-ip-range={service_cidr}",
        "--controllers=*",
        # The built-in provisioner behind the StorageClass `standard` (provisioner kubernetes.io/host-path);
        # it makes each volume a directory under /tmp/hostpath_pv/.
        "--enable-hostpath-provisioner=true",
    ]


def scheduler_command(binary: Path, layout: StateLayout, ports: Ports) -> list[str]:
    kubeconfig = layout.component_kubeconfig("kube-scheduler")
    return _api_client_component(binary, kubeconfig, ports.scheduler)
