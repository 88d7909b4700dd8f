"""Services on the local node: a userspace TCP proxy per Service port, bound to the (loopback) ClusterIP
and balancing over the ready endpoints, plus the host names pods resolve through their /etc/hosts."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import itertools
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kubernetes import client

from labkit.cluster.node.kube import to_dict

log = logging.getLogger(__name__)
LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
POLL_SECONDS = 1.0
CLUSTER_DOMAIN = "cluster.local"


def _is_loopback(ip: str | None) -> bool:
    try:
        return ip is not None and ipaddress.ip_address(ip) in LOOPBACK
    except ValueError:
        return False


def service_backends(
    service: Mapping[str, Any], endpoints: Mapping[str, Any] | None
) -> dict[int, list[tuple[str, int]]]:
    """Service port → ready (ip, port) backends, matching endpoint ports by name as kube-proxy does."""
    out: dict[int, list[tuple[str, int]]] = {}
    for port in (service.get("spec") or {}).get("ports") or []:
        if str(port.get("protocol") or "TCP") != "TCP":
            continue
        backends: list[tuple[str, int]] = []
        for subset in (endpoints or {}).get("subsets") or []:
            match = [
                p for p in subset.get("ports") or [] if (p.get("name") or "") == (port.get("name") or "")
            ]
            if not match:
                continue
            for address in subset.get("addresses") or []:
                backends.append((str(address["ip"]), int(match[0]["port"])))
        out[int(port["port"])] = backends
    return out


def hosts_lines(
    namespace: str,
    services: Sequence[Mapping[str, Any]],
    endpoints: Mapping[tuple[str, str], Mapping[str, Any]],
) -> str:
    """/etc/hosts lines for a pod in ``namespace``: every Service by ``name.namespace[.svc[.cluster.local]]``,
    the pod's own namespace's Services also by bare ``name``; headless Services list their ready pods."""
    lines = []
    for svc in services:
        meta, spec = svc["metadata"], svc.get("spec") or {}
        name, ns = str(meta["name"]), str(meta["namespace"])
        names = [f"{name}.{ns}.svc.{CLUSTER_DOMAIN}", f"{name}.{ns}.svc", f"{name}.{ns}"]
        if ns == namespace:
            names.append(name)
        ip = spec.get("clusterIP")
        if spec.get("type") == "ExternalName":
            continue
        if ip and ip != "None":
            lines.append(f"{ip}\t{' '.join(names)}")
            continue
        for subset in (endpoints.get((ns, name)) or {}).get("subsets") or []:
            for address in subset.get("addresses") or []:
                lines.append(f"{address['ip']}\t{' '.join(names)}")
                if address.get("hostname"):
                    host = address["hostname"]
                    pod_names = [
                        f"{host}.{name}.{ns}.svc.{CLUSTER_DOMAIN}",
                        f"{host}.{name}.{ns}.svc",
                        f"{host}.{name}.{ns}",
                    ]
                    if ns == namespace:
                        pod_names.append(f"{host}.{name}")
                    lines.append(f"{address['ip']}\t{' '.join(pod_names)}")
    return "".join(line + "\n" for line in lines)


class _Listener:
    def __init__(self, server: asyncio.base_events.Server) -> None:
        self.server = server
        self.backends: list[tuple[str, int]] = []
        self.counter = itertools.count()


class ServiceProxies:
    """Keeps one TCP proxy per loopback ClusterIP:port in step with the API (polled every second)."""

    def __init__(self, api: client.ApiClient, on_change: Callable[[], None]) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.on_change = on_change
        self.loop = asyncio.new_event_loop()
        self._listeners: dict[tuple[str, int], _Listener] = {}
        self._services: list[dict[str, Any]] = []
        self._endpoints: dict[tuple[str, str], dict[str, Any]] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._failed: set[tuple[str, int]] = set()
        self._relays: set[asyncio.Task[None]] = set()  # strong references while connections are open

    def start(self) -> None:
        """Run the proxy event loop and the poller in daemon threads."""
        threading.Thread(target=self.loop.run_forever, name="service-proxy-loop", daemon=True).start()
        threading.Thread(target=self._poll_forever, name="service-poller", daemon=True).start()

    def stop(self) -> None:
        """Close every listener and stop polling."""
        self._stop.set()
        future = asyncio.run_coroutine_threadsafe(self._close_all(), self.loop)
        with contextlib.suppress(Exception):
            future.result(timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)

    def hosts_for(self, namespace: str) -> str:
        """The Service lines of /etc/hosts for a pod in ``namespace``."""
        with self._lock:
            return hosts_lines(namespace, self._services, self._endpoints)

    def _poll_forever(self) -> None:
        while not self._stop.is_set():
            try:
                self.sync()
            except Exception as exc:
                log.warning("service sync failed: %s", exc)
            self._stop.wait(POLL_SECONDS)

    def sync(self) -> None:
        """Read Services and Endpoints once and reconcile listeners and host names (thread-safe)."""
        with self._sync_lock:
            self._sync()

    def _sync(self) -> None:
        services = [to_dict(self.api, s) for s in self.core.list_service_for_all_namespaces().items]
        endpoints = {
            (e["metadata"]["namespace"], e["metadata"]["name"]): e
            for e in (to_dict(self.api, x) for x in self.core.list_endpoints_for_all_namespaces().items)
        }
        wanted: dict[tuple[str, int], list[tuple[str, int]]] = {}
        for svc in services:
            ip = (svc.get("spec") or {}).get("clusterIP")
            if not _is_loopback(ip):
                continue
            key_ep = (svc["metadata"]["namespace"], svc["metadata"]["name"])
            for port, backends in service_backends(svc, endpoints.get(key_ep)).items():
                wanted[(str(ip), port)] = backends
        future = asyncio.run_coroutine_threadsafe(self._reconcile(wanted), self.loop)
        future.result(timeout=10)
        with self._lock:
            changed = hosts_lines("", services, endpoints) != hosts_lines(
                "", self._services, self._endpoints
            ) or any(
                hosts_lines(ns, services, endpoints) != hosts_lines(ns, self._services, self._endpoints)
                for ns in {s["metadata"]["namespace"] for s in services + self._services}
            )
            self._services, self._endpoints = services, endpoints
        if changed:
            self.on_change()

    async def _reconcile(self, wanted: dict[tuple[str, int], list[tuple[str, int]]]) -> None:
        for key in list(self._listeners):
            if key not in wanted:
                listener = self._listeners.pop(key)
                listener.server.close()
        for key, backends in wanted.items():
            existing = self._listeners.get(key)
            if existing is not None:
                existing.backends = backends
                continue
            try:
                server = await asyncio.start_server(
                    functools.partial(self._relay, key), host=key[0], port=key[1], reuse_address=True
                )
            except OSError as exc:
                if key not in self._failed:
                    log.warning("cannot proxy service %s:%s: %s", key[0], key[1], exc)
                    self._failed.add(key)
                continue
            self._failed.discard(key)
            listener = self._listeners[key] = _Listener(server)
            listener.backends = backends

    async def _close_all(self) -> None:
        for listener in self._listeners.values():
            listener.server.close()
        self._listeners.clear()

    async def _relay(
        self, key: tuple[str, int], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._relays.add(task)
            task.add_done_callback(self._relays.discard)
        found = self._listeners.get(key)
        backends = list(found.backends) if found else []
        if not backends or found is None:
            writer.close()  # no ready endpoint: the connection is refused, as with kube-proxy's REJECT
            return
        start = next(found.counter)
        for attempt in range(len(backends)):
            host, port = backends[(start + attempt) % len(backends)]
            try:
                up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=3)
                break
            except (OSError, TimeoutError):
                continue
        else:
            writer.close()
            return
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            for each in (writer, up_writer):
                with contextlib.suppress(Exception):
                    each.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction until EOF, then half-close; an error closes the writer."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        with contextlib.suppress(Exception):
            writer.close()
