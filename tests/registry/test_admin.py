"""Admin backup/restore: bearer token, AES-256-GCM, refusal of tampered or wrong-key backups."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from tests.registry.conftest import Harness, MakeRegistry, tool

TOKEN = "dev-token-change-in-production"
KEY = "dev-key-32-bytes-change-in-prod!"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ADMIN = {"AUTH_TOKEN": TOKEN, "ENCRYPTION_KEY": KEY}


async def listing(registry: Harness) -> list[dict[str, Any]]:
    body = await (await registry.client.get("/agents")).get_json()
    return [{k: v for k, v in a.items() if k != "last_seen"} for a in body["agents"] or []]


async def backup(registry: Harness) -> bytes:
    response = await registry.client.get("/admin/backup", headers=AUTH)
    assert response.status_code == 200
    assert response.content_type == "application/octet-stream"
    return await response.get_data()


async def restore(registry: Harness, blob: bytes) -> Any:
    return await registry.client.post("/admin/restore", data=blob, headers=AUTH)


async def test_backup_restores_into_a_fresh_registry(make_registry: MakeRegistry, tmp_path: Path) -> None:
    source = await make_registry(**ADMIN)
    digest = "sha256:" + "cd" * 32
    await source.register(
        "provider-1", [tool("f", "svc", inputSchemaCanonical={"a": 1}, inputSchemaHash=digest)]
    )
    await source.register("consumer-1", [tool("g", "use", dependencies=[{"capability": "svc"}])])
    await source.client.post(
        "/agents", json={"id": "test-agent-1", "capabilities": ["test"], "endpoint": "http://a:1"}
    )
    blob = await backup(source)
    assert b"provider-1" not in blob, "the backup is encrypted"

    fresh = await make_registry(DATABASE_URL=str(tmp_path / "fresh.db"), **ADMIN)
    assert await listing(fresh) == []
    response = await restore(fresh, blob)
    assert response.status_code == 200
    assert (await response.get_json())["agents"] == 3
    assert await listing(fresh) == await listing(source)
    caps_source = await (await source.client.get("/capabilities")).get_json()
    caps_fresh = await (await fresh.client.get("/capabilities")).get_json()
    assert caps_fresh["capabilities"] == caps_source["capabilities"]
    assert (await fresh.client.get(f"/schemas/{digest}")).status_code == 200
    assert await fresh.head("/heartbeat/provider-1") == 202, "agents re-register after a restore"


async def test_restore_replaces_content(make_registry: MakeRegistry) -> None:
    registry = await make_registry(**ADMIN)
    await registry.register("kept-1", [tool("f", "svc")])
    blob = await backup(registry)
    await registry.register("later-1", [tool("f", "other")])
    assert (await restore(registry, blob)).status_code == 200
    assert [a["id"] for a in await listing(registry)] == ["kept-1"]


@pytest.mark.parametrize("database_env", ["sqlite"], indirect=True)
async def test_tampered_or_wrong_key_backups_change_nothing(
    make_registry: MakeRegistry, tmp_path: Path
) -> None:
    registry = await make_registry(**ADMIN)
    await registry.register("agent-1", [tool("f", "svc")])
    blob = await backup(registry)
    await registry.register("agent-2", [tool("f", "svc")])
    before = await listing(registry)
    tampered = bytearray(blob)
    tampered[len(tampered) // 2] ^= 0x01
    for bad, reason in [
        (bytes(tampered), "wrong ENCRYPTION_KEY or tampered"),
        (b"hello", "not a registry backup"),
    ]:
        response = await restore(registry, bad)
        assert response.status_code == 400
        assert reason in (await response.get_json())["error"]
    other = await make_registry(
        DATABASE_URL=str(tmp_path / "other.db"),
        AUTH_TOKEN=TOKEN,
        ENCRYPTION_KEY="another-key-of-exactly-32-bytes!",
    )
    wrong_key = await restore(other, blob)
    assert wrong_key.status_code == 400
    assert await listing(registry) == before
    assert await listing(other) == []


@pytest.mark.parametrize("database_env", ["sqlite"], indirect=True)
async def test_admin_needs_the_token(make_registry: MakeRegistry) -> None:
    registry = await make_registry(**ADMIN)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        response = await registry.client.get("/admin/backup", headers=headers)
        assert response.status_code == 401
        assert TOKEN not in await response.get_data(as_text=True)
    assert (await registry.client.post("/admin/restore", data=b"x")).status_code == 401
    disabled = await make_registry()
    assert (await disabled.client.get("/admin/backup", headers=AUTH)).status_code == 403
    no_key = await make_registry(AUTH_TOKEN=TOKEN)
    response = await no_key.client.get("/admin/backup", headers=AUTH)
    assert response.status_code == 409
    assert "ENCRYPTION_KEY" in (await response.get_json())["error"]


@pytest.mark.parametrize("database_env", ["sqlite"], indirect=True)
async def test_restore_takes_backups_above_the_body_limit(make_registry: MakeRegistry) -> None:
    registry = await make_registry(MAX_BODY_BYTES="2048", **ADMIN)
    for index in range(40):
        await registry.register(
            f"agent-{index}", [tool("f", f"cap-{index}", description=secrets.token_hex(40))]
        )
    blob = await backup(registry)
    assert len(blob) > 2048
    response = await restore(registry, blob)
    assert response.status_code == 200
    assert (await response.get_json())["agents"] == 40
    too_big = await registry.client.post("/agents", data=b"{" + b" " * 4096 + b"}", headers=AUTH)
    assert too_big.status_code == 413
