"""The local cluster's certificates and keys, made with ``cryptography``.

One CA signs every certificate: the API server's serving certificate (127.0.0.1, localhost and the
``kubernetes`` Service names), client certificates for the admin, the controller-manager, the scheduler,
the kubelet node and the API server's calls to the kubelet, plus a serving certificate for the node.
A separate RSA key pair signs ServiceAccount tokens. Files are written once and reused on later ``up``s.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=3650)
NODE_NAME = "labkit-node"


@dataclass(frozen=True)
class ClientIdentity:
    """Who a client certificate says its holder is: user name (CN) and groups (O)."""

    file_stem: str
    user: str
    groups: tuple[str, ...]


CLIENT_IDENTITIES = (
    ClientIdentity("admin", "labkit-admin", ("system:masters",)),
    ClientIdentity("controller-manager", "system:kube-controller-manager", ()),
    ClientIdentity("scheduler", "system:kube-scheduler", ()),
    # The node's identity (kubelet, kube-proxy, labkit's node helpers): labkit's own trusted component.
    ClientIdentity("node", f"system:node:{NODE_NAME}", ("system:nodes", "system:masters")),
    ClientIdentity("apiserver-kubelet-client", "kube-apiserver-kubelet-client", ("system:masters",)),
)


@dataclass(frozen=True)
class Pki:
    """Paths of the files in a PKI directory."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def apiserver_cert(self) -> Path:
        return self.directory / "apiserver.crt"

    @property
    def apiserver_key(self) -> Path:
        return self.directory / "apiserver.key"

    @property
    def node_serving_cert(self) -> Path:
        return self.directory / "node-serving.crt"

    @property
    def node_serving_key(self) -> Path:
        return self.directory / "node-serving.key"

    @property
    def service_account_key(self) -> Path:
        return self.directory / "sa.key"

    @property
    def service_account_pub(self) -> Path:
        return self.directory / "sa.pub"

    def client_cert(self, stem: str) -> Path:
        return self.directory / f"{stem}.crt"

    def client_key(self, stem: str) -> Path:
        return self.directory / f"{stem}.key"

    def complete(self) -> bool:
        """Whether every file exists (an interrupted run leaves an incomplete directory)."""
        files = [self.ca_cert, self.ca_key, self.apiserver_cert, self.apiserver_key]
        files += [self.node_serving_cert, self.node_serving_key]
        files += [self.service_account_key, self.service_account_pub]
        for identity in CLIENT_IDENTITIES:
            files += [self.client_cert(identity.file_stem), self.client_key(identity.file_stem)]
        return all(path.is_file() for path in files)


def _name(common_name: str, organizations: Sequence[str] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(pem)
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )


def _leaf(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_name: x509.Name,
    subject: x509.Name,
    usages: list[x509.ObjectIdentifier],
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _new_key()
    builder = (
        _builder(subject, ca_name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    )
    alt_names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


API_SERVER_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)


def _issue_apiserver_cert(
    pki: Pki,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_name: x509.Name,
    service_ip: str,
    extra_ips: Sequence[str] = (),
) -> None:
    server = [ExtendedKeyUsageOID.SERVER_AUTH]
    ips = ["127.0.0.1", service_ip, *extra_ips]
    key, cert = _leaf(ca_key, ca_name, _name("kube-apiserver"), server, API_SERVER_NAMES, ips)
    _write_key(pki.apiserver_key, key)
    _write_cert(pki.apiserver_cert, cert)


def serves_ip(cert_file: Path, ip: str) -> bool:
    """Whether the certificate's subject alternative names include the IP address."""
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return ipaddress.ip_address(ip) in names.get_values_for_type(x509.IPAddress)


def create_pki(directory: Path, service_ip: str, extra_ips: Sequence[str] = ()) -> Pki:
    """Create every key and certificate in ``directory`` unless a complete set is already there.

    ``service_ip`` is the ClusterIP of the ``kubernetes`` Service, added to the API server's names, as
    are ``extra_ips`` (where the kubelet node reaches the API server).
    """
    pki = Pki(directory)
    if pki.complete():
        if not all(serves_ip(pki.apiserver_cert, ip) for ip in (service_ip, *extra_ips)):
            # The cluster moved to another address block: reissue only the serving certificate.
            ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
            if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
                raise TypeError(f"{pki.ca_key} is not the EC key labkit writes")
            ca_name = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes()).subject
            _issue_apiserver_cert(pki, ca_key, ca_name, service_ip, extra_ips)
        return pki
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = _new_key()
    ca_name = _name("labkit-ca")
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(pki.ca_key, ca_key)
    _write_cert(pki.ca_cert, ca_cert)

    server = [ExtendedKeyUsageOID.SERVER_AUTH]
    client = [ExtendedKeyUsageOID.CLIENT_AUTH]
    _issue_apiserver_cert(pki, ca_key, ca_name, service_ip, extra_ips)

    key, cert = _leaf(ca_key, ca_name, _name(NODE_NAME), server, ["localhost", NODE_NAME], ["127.0.0.1"])
    _write_key(pki.node_serving_key, key)
    _write_cert(pki.node_serving_cert, cert)

    for identity in CLIENT_IDENTITIES:
        key, cert = _leaf(ca_key, ca_name, _name(identity.user, identity.groups), client)
        _write_key(pki.client_key(identity.file_stem), key)
        _write_cert(pki.client_cert(identity.file_stem), cert)

    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pki.service_account_pub.write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    _write_key(pki.service_account_key, sa_key)  # written last: its presence marks a complete set
    return pki
