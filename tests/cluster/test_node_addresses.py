"""Unit tests: loopback pod addresses, one /24 per running agent."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
import textwrap
from pathlib import Path

from labkit.cluster.node.addresses import AddressPool, listening_addresses

NETWORK = ipaddress.IPv4Network("127.250.0.0/22")  # 4 subnets, away from real agents' range


def test_addresses_are_stable_per_pod_and_reused_after_release(tmp_path: Path) -> None:
    pool = AddressPool(tmp_path / "a.json", NETWORK, tmp_path / "locks")
    first, second = pool.acquire("uid-1"), pool.acquire("uid-2")
    assert first != second
    assert ipaddress.ip_address(first) in pool.subnet
    assert pool.acquire("uid-1") == first
    pool.release("uid-1")
    assert pool.acquire("uid-3") == first
    assert pool.adopt("uid-9", "127.244.9.9") == "127.244.9.9"
    pool.claim.release()
    again = AddressPool(tmp_path / "a.json", NETWORK, tmp_path / "locks")
    assert again.subnet == pool.subnet
    assert again.assigned()["uid-2"] == second


def test_two_agents_get_different_subnets(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import ipaddress, sys, time
        from pathlib import Path
        from labkit.cluster.node.addresses import AddressPool
        pool = AddressPool(Path({str(tmp_path / "other.json")!r}), ipaddress.IPv4Network("{NETWORK}"),
                           Path({str(tmp_path / "locks")!r}))
        print(pool.subnet, flush=True)
        sys.stdin.read()
        """
    )
    other = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert other.stdout is not None
        other_subnet = other.stdout.readline().strip()
        mine = AddressPool(tmp_path / "mine.json", NETWORK, tmp_path / "locks")
        assert str(mine.subnet) != other_subnet
    finally:
        other.communicate("", timeout=10)


def test_listening_addresses_sees_a_listener() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.250.3.7", 0))
        sock.listen()
        assert "127.250.3.7" in listening_addresses()
