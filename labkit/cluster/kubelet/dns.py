"""The cluster DNS: a small authoritative server for ``cluster.local`` on dnspython, fed from the API.

CoreDNS is not packaged in Debian, so this answers what pods ask of it, the way CoreDNS's kubernetes
plugin does for the lab's objects:

- ``<service>.<namespace>.svc.cluster.local``: the ClusterIP, or the ready endpoint addresses of a
  headless Service (pods' resolv.conf search list makes ``<service>`` and ``<service>.<namespace>``
  work too);
- ``<hostname>.<service>.<namespace>.svc.cluster.local``: a StatefulSet pod behind its headless Service;
- a name that exists with no address of the asked type gets an empty answer (NOERROR), any other name
  NXDOMAIN at once: nothing is forwarded, since no server outside the machine is reachable.

Services and Endpoints are listed from the API every ``REFRESH_SECONDS``. Run as
``python -m labkit.cluster.kubelet.dns LISTEN_IP KUBECONFIG``.
"""

from __future__ import annotations

import socketserver
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

DOMAIN = "cluster.local."
REFRESH_SECONDS = 1.0
TTL = 5

Records = Mapping[str, tuple[str, ...]]


def build_records(services: Sequence[Any], endpoints: Sequence[Any], domain: str = DOMAIN) -> Records:
    """Names (lower case, absolute) to IPv4 addresses, from Service and Endpoints objects."""
    records: dict[str, list[str]] = {}
    ready: dict[tuple[str, str], list[tuple[str, str | None]]] = {}
    for item in endpoints:
        meta = item.metadata
        addresses = ready.setdefault((meta.namespace, meta.name), [])
        for subset in item.subsets or []:
            for address in subset.addresses or []:
                addresses.append((address.ip, address.hostname))
    for item in services:
        meta, spec = item.metadata, item.spec
        name = f"{meta.name}.{meta.namespace}.svc.{domain}".lower()
        records.setdefault(name, [])
        if spec.cluster_ip and spec.cluster_ip != "None":
            records[name].append(spec.cluster_ip)
            continue
        for ip, hostname in ready.get((meta.namespace, meta.name), []):
            records[name].append(ip)
            if hostname:
                records.setdefault(f"{hostname}.{name}".lower(), []).append(ip)
    return {name: tuple(dict.fromkeys(ips)) for name, ips in records.items()}


def answer(query: dns.message.Message, records: Records, domain: str = DOMAIN) -> dns.message.Message:
    """The response to one query from ``records``."""
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    response.flags &= ~dns.flags.RA
    if len(query.question) != 1:
        response.set_rcode(dns.rcode.FORMERR)
        return response
    question = query.question[0]
    name = question.name.to_text().lower()
    if name not in records:
        known_parent = any(other.endswith("." + name) for other in records) or name == domain
        response.set_rcode(dns.rcode.NOERROR if known_parent else dns.rcode.NXDOMAIN)
        return response
    if question.rdtype in (dns.rdatatype.A, dns.rdatatype.ANY) and records[name]:
        rrset = dns.rrset.from_text_list(
            question.name, TTL, dns.rdataclass.IN, dns.rdatatype.A, records[name]
        )
        response.answer.append(rrset)
    return response


class _Cache:
    """The records, refreshed from the API in a background thread."""

    def __init__(self, kubeconfig: str) -> None:
        from kubernetes import client, config

        self._api = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))
        self.records: Records = {}
        self.refresh()
        threading.Thread(target=self._loop, daemon=True).start()

    def refresh(self) -> None:
        services = self._api.list_service_for_all_namespaces(_request_timeout=10).items
        endpoints = self._api.list_endpoints_for_all_namespaces(_request_timeout=10).items
        self.records = build_records(services, endpoints)

    def _loop(self) -> None:
        while True:
            time.sleep(REFRESH_SECONDS)
            try:
                self.refresh()
            except Exception as error:  # the API restarting: keep the last records, say so
                print(f"labkit dns: refresh failed: {error}", file=sys.stderr, flush=True)


def _respond(wire: bytes, cache: _Cache) -> bytes | None:
    try:
        query = dns.message.from_wire(wire)
    except Exception:
        return None
    return answer(query, cache.records).to_wire()


def serve(listen_ip: str, kubeconfig: str, port: int = 53) -> None:
    """Serve UDP and TCP on ``listen_ip:port`` until the process is stopped."""
    cache = _Cache(kubeconfig)

    class Udp(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data, sock = self.request
            reply = _respond(data, cache)
            if reply is not None:
                sock.sendto(reply, self.client_address)

    class Tcp(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            length = int.from_bytes(self.rfile.read(2), "big")
            reply = _respond(self.rfile.read(length), cache)
            if reply is not None:
                self.wfile.write(len(reply).to_bytes(2, "big") + reply)

    socketserver.ThreadingUDPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    udp = socketserver.ThreadingUDPServer((listen_ip, port), Udp)
    tcp = socketserver.ThreadingTCPServer((listen_ip, port), Tcp)
    threading.Thread(target=tcp.serve_forever, daemon=True).start()
    udp.serve_forever()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m labkit.cluster.kubelet.dns LISTEN_IP KUBECONFIG", file=sys.stderr)
        return 2
    serve(argv[0], argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
