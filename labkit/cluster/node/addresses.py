"""Loopback pod addresses: each pod gets its own 127.244.N.x, remembered across agent restarts.

Several local clusters may run on one machine (tests, notebooks, developers), and loopback addresses are
machine-wide, so each agent first claims a /24 of ``127.244.0.0/16`` for itself with an exclusive
``flock`` on ``/tmp/labkit-node-subnets/N.lock``, held while the agent runs (the kernel releases it if the
agent dies). An agent that restarts asks for its previous /24 first.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import threading
from pathlib import Path
from typing import IO

POD_NETWORK = ipaddress.IPv4Network("127.244.0.0/16")
SUBNET_LOCK_DIR = Path("/tmp/labkit-node-subnets")


def listening_addresses(proc_net_tcp: Path = Path("/proc/net/tcp")) -> set[str]:
    """IPv4 addresses something listens on right now (from the kernel's socket table)."""
    found: set[str] = set()
    try:
        lines = proc_net_tcp.read_text().splitlines()[1:]
    except OSError:
        return found
    for line in lines:
        fields = line.split()
        if len(fields) > 3 and fields[3] == "0A":  # TCP_LISTEN
            hex_ip = fields[1].split(":")[0]
            found.add(str(ipaddress.IPv4Address(bytes.fromhex(hex_ip)[::-1])))
    return found


class SubnetClaim:
    """An exclusive claim on one /24 of the pod network for this agent process."""

    def __init__(
        self, network: ipaddress.IPv4Network, preferred: int | None, lock_dir: Path = SUBNET_LOCK_DIR
    ):
        lock_dir.mkdir(parents=True, exist_ok=True)
        subnets = list(network.subnets(new_prefix=24))
        order = list(range(len(subnets)))
        if preferred is not None and 0 <= preferred < len(subnets):
            order.remove(preferred)
            order.insert(0, preferred)
        self._handle: IO[str] | None = None
        busy = listening_addresses()
        for index in order:
            if any(address in busy for address in map(str, subnets[index].hosts())):
                continue  # used by a node agent that predates the locks, or by someone else
            handle = (lock_dir / f"{index}.lock").open("a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                continue
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            self._handle = handle
            self.index = index
            self.subnet = subnets[index]
            return
        raise RuntimeError(f"every /24 of {network} is claimed by another running labkit node agent")

    def release(self) -> None:
        """Give the /24 back (also happens when the process ends)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class AddressPool:
    """Hands out one address of the claimed /24 per pod uid; the assignment is kept in a JSON file."""

    def __init__(
        self, state_file: Path, network: ipaddress.IPv4Network = POD_NETWORK, lock_dir: Path = SUBNET_LOCK_DIR
    ):
        self._file = state_file
        self._lock = threading.Lock()
        saved: dict[str, object] = json.loads(state_file.read_text()) if state_file.exists() else {}
        previous = saved.get("subnet")
        self.claim = SubnetClaim(network, int(previous) if isinstance(previous, int) else None, lock_dir)
        self._by_uid: dict[str, str] = {}
        pods = saved.get("pods")
        if previous == self.claim.index and isinstance(pods, dict):
            self._by_uid = {str(k): str(v) for k, v in pods.items()}
        self._save()

    @property
    def subnet(self) -> ipaddress.IPv4Network:
        """The /24 this agent's pods get their addresses from."""
        return self.claim.subnet

    def acquire(self, uid: str) -> str:
        """The pod's address: the one it already has, else the lowest free one."""
        with self._lock:
            if uid in self._by_uid:
                return self._by_uid[uid]
            taken = set(self._by_uid.values())
            for host in self.claim.subnet.hosts():
                if host.packed[-1] < 2:
                    continue
                if str(host) not in taken:
                    self._by_uid[uid] = str(host)
                    self._save()
                    return str(host)
            raise RuntimeError(f"no free pod address left in {self.claim.subnet}")

    def adopt(self, uid: str, address: str) -> str:
        """Keep the address a pod already reports (it cannot change once set), e.g. after an agent restart."""
        with self._lock:
            self._by_uid[uid] = address
            self._save()
            return address

    def release(self, uid: str) -> None:
        """Give the pod's address back (no-op for an unknown uid)."""
        with self._lock:
            if self._by_uid.pop(uid, None) is not None:
                self._save()

    def assigned(self) -> dict[str, str]:
        """A copy of the current uid → address map."""
        with self._lock:
            return dict(self._by_uid)

    def _save(self) -> None:
        self._file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._file.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"subnet": self.claim.index, "pods": self._by_uid}, indent=1, sort_keys=True)
        )
        tmp.replace(self._file)
