"""The proxy's rules on their own: which targets and paths pass, the timeout, the headers passed on."""

from __future__ import annotations

import pytest

from registry.proxy import ProxyError, forwarded_headers, parse_target, timeout_for


@pytest.mark.parametrize(
    ("rest", "authority", "path"),
    [
        ("127.0.0.1:8080/mcp", "127.0.0.1:8080", "/mcp"),
        ("Agent-1:9000/mcp/", "agent-1:9000", "/mcp/"),
        ("10.0.0.7:80/mcp/stream", "10.0.0.7:80", "/mcp/stream"),
    ],
)
def test_mcp_paths_of_a_host_and_port_pass(rest: str, authority: str, path: str) -> None:
    target = parse_target(rest, f"/proxy/{rest}".encode())
    assert (target.authority, target.path) == (authority, path)


@pytest.mark.parametrize(
    ("rest", "status"),
    [
        ("127.0.0.1:8080", 400),
        ("127.0.0.1/mcp", 400),
        ("user@127.0.0.1:8080/mcp", 400),
        ("127.0.0.1:port/mcp", 400),
        ("127.0.0.1:8080/admin/drain", 403),
        ("127.0.0.1:8080/mcpx", 403),
        ("127.0.0.1:8080/mcp/../admin", 403),
        ("127.0.0.1:8080/mcp//x", 403),
        ("127.0.0.1:8080/mcp/a\\b", 403),
    ],
)
def test_everything_else_is_refused(rest: str, status: int) -> None:
    with pytest.raises(ProxyError) as refused:
        parse_target(rest, f"/proxy/{rest}".encode())
    assert refused.value.status == status


def test_encoded_separators_in_the_raw_path_are_refused() -> None:
    with pytest.raises(ProxyError) as refused:
        parse_target("127.0.0.1:8080/mcp/../x", b"/proxy/127.0.0.1:8080/mcp/%2E%2E/x")
    assert refused.value.status == 403


def test_x_mesh_timeout_wins_when_usable_and_600_s_is_the_ceiling() -> None:
    assert timeout_for(None, 60) == 60
    assert timeout_for("5", 60) == 5
    assert timeout_for("5000", 60) == 600
    assert timeout_for("soon", 60) == 60
    assert timeout_for("-3", 60) == 60
    assert timeout_for(None, 9000) == 600


def test_only_mcp_and_mesh_headers_and_configured_prefixes_are_passed_on() -> None:
    headers = [
        ("Content-Type", "application/json"),
        ("Authorization", "Bearer registry-token"),
        ("Cookie", "a=b"),
        ("X-Trace-ID", "t"),
        ("X-Mesh-Calling-Claim-Epoch", "2"),
        ("X-Tenant-Id", "blue"),
        ("Host", "registry"),
    ]
    kept = forwarded_headers(headers, ("x-tenant",))
    assert kept == {
        "Content-Type": "application/json",
        "X-Trace-ID": "t",
        "X-Mesh-Calling-Claim-Epoch": "2",
        "X-Tenant-Id": "blue",
    }
