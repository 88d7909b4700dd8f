"""The cluster PKI and kubeconfigs: who each certificate names, which names it serves, who signed it."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from labkit.cluster.kubeconfig import write_kubeconfig
from labkit.cluster.pki import CLIENT_IDENTITIES, ClientIdentity, Pki, create_pki, serves_ip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return create_pki(tmp_path_factory.mktemp("pki"), service_ip="127.96.0.1")


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def signed_by_ca(pki: Pki, cert: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(load(pki.ca_cert))
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def test_ca_is_a_ca(pki: Pki) -> None:
    ca = load(pki.ca_cert)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True


def test_apiserver_serves_loopback_and_the_kubernetes_service_names(pki: Pki) -> None:
    cert = load(pki.apiserver_cert)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", "kubernetes.default.svc"} <= set(names.get_values_for_type(x509.DNSName))
    ips = set(names.get_values_for_type(x509.IPAddress))
    assert {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("127.96.0.1")} <= ips
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usages
    assert signed_by_ca(pki, cert)


@pytest.mark.parametrize("identity", CLIENT_IDENTITIES, ids=lambda identity: identity.file_stem)
def test_client_certificates_name_their_user_and_groups(pki: Pki, identity: ClientIdentity) -> None:
    stem, user, groups = identity.file_stem, identity.user, identity.groups
    cert = load(pki.client_cert(stem))
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == user
    assert tuple(a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)) == groups
    assert (
        ExtendedKeyUsageOID.CLIENT_AUTH
        in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    )
    assert signed_by_ca(pki, cert)


def test_admin_is_in_system_masters_and_the_scheduler_is_not(pki: Pki) -> None:
    def groups(stem: str) -> list[object]:
        subject = load(pki.client_cert(stem)).subject
        return [a.value for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]

    assert "system:masters" in groups("admin")
    assert "system:masters" not in groups("scheduler")


def test_keys_are_private_files(pki: Pki) -> None:
    for key in (pki.ca_key, pki.service_account_key, pki.client_key("admin")):
        assert key.stat().st_mode & 0o077 == 0


def test_a_complete_pki_is_reused_unchanged(pki: Pki) -> None:
    before = pki.ca_cert.read_bytes()
    again = create_pki(pki.directory, service_ip="127.96.0.1")
    assert again.ca_cert.read_bytes() == before


def test_an_incomplete_pki_is_recreated(tmp_path: Path) -> None:
    first = create_pki(tmp_path, service_ip="127.96.0.1")
    first.service_account_key.unlink()
    old_ca = first.ca_cert.read_bytes()
    second = create_pki(tmp_path, service_ip="127.96.0.1")
    assert second.complete()
    assert second.ca_cert.read_bytes() != old_ca


def test_kubeconfig_embeds_the_credentials(pki: Pki, tmp_path: Path) -> None:
    path = write_kubeconfig(
        tmp_path / "kubeconfig",
        "https://127.0.0.1:6443",
        pki.ca_cert,
        pki.client_cert("admin"),
        pki.client_key("admin"),
    )
    config = yaml.safe_load(path.read_text())
    assert config["current-context"] == "labkit"
    assert config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    assert config["users"][0]["user"]["client-key-data"]
    assert path.stat().st_mode & 0o077 == 0


def test_a_new_service_ip_reissues_only_the_serving_certificate(tmp_path: Path) -> None:
    first = create_pki(tmp_path, service_ip="127.96.0.1")
    ca, admin = first.ca_cert.read_bytes(), first.client_cert("admin").read_bytes()
    second = create_pki(tmp_path, service_ip="127.120.0.1")
    assert serves_ip(second.apiserver_cert, "127.120.0.1")
    assert not serves_ip(second.apiserver_cert, "127.96.0.1")
    assert (second.ca_cert.read_bytes(), second.client_cert("admin").read_bytes()) == (ca, admin)
    assert signed_by_ca(second, load(second.apiserver_cert))
