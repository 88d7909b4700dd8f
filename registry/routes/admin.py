"""Operator routes behind ``AUTH_TOKEN``: encrypted backup and restore."""

from __future__ import annotations

import logging
from typing import Any

from quart import Blueprint, Response, request

from registry import clock
from registry.backup_crypto import BackupError, decrypt_backup, encrypt_backup
from registry.liveness import ALL_AGENTS
from registry.routes.auth import refuse_unauthorised
from registry.routes.common import error_response, json_response, runtime
from registry.storage.migrations import LATEST_VERSION
from registry.storage.schema import agents, capabilities, schema_entries

log = logging.getLogger("registry.admin")

blueprint = Blueprint("admin", __name__)

BACKUP_FORMAT = "mcp-mesh-registry-backup"
RESTORE_MAX_BYTES = 256 * 1024 * 1024
TABLES = {table.name: table for table in (agents, capabilities, schema_entries)}


def _authorised_key() -> bytes | Response:
    """The backup key for an authorised caller when one is set; else the 401/403/409 response."""
    refused = refuse_unauthorised()
    if refused is not None:
        return refused
    key = runtime().settings.encryption_key
    if key is None:
        return error_response("backups need ENCRYPTION_KEY (32 bytes) to be set", 409)
    return key


@blueprint.route("/admin/backup", methods=["GET", "POST"])
async def backup() -> Response:
    """An encrypted snapshot of every agent, tool and schema (application/octet-stream)."""
    key = _authorised_key()
    if isinstance(key, Response):
        return key
    rt = runtime()
    await rt.liveness.flush()
    data = await rt.storage.snapshot()
    taken = rt.clock.now()
    document = {
        "format": BACKUP_FORMAT,
        "schema_version": LATEST_VERSION,
        "created_at": clock.rfc3339(taken),
        "instance_id": rt.settings.instance_id,
        "data": data,
    }
    blob = encrypt_backup(document, key)
    log.info("backup taken", extra={"agents": len(data["agents"]), "bytes": len(blob)})
    stamp = clock.rfc3339(taken).replace(":", "").split(".")[0]
    return Response(
        blob,
        status=200,
        content_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="registry-backup-{stamp}.bin"'},
    )


def _check_rows(data: Any) -> dict[str, list[dict[str, Any]]]:
    """The snapshot's tables, each row checked against the schema's columns; BackupError otherwise."""
    if not isinstance(data, dict):
        raise BackupError("backup data must be an object of tables")
    checked: dict[str, list[dict[str, Any]]] = {}
    for name, table in TABLES.items():
        rows = data.get(name, [])
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise BackupError(f"backup table {name} must be a list of rows")
        columns = set(table.c.keys())
        required = {
            c.name for c in table.c if not c.nullable and c.default is None and c.autoincrement is not True
        }
        required.discard("id")
        for row in rows:
            unknown = set(row) - columns
            if unknown:
                raise BackupError(f"backup table {name} has unknown columns: {', '.join(sorted(unknown))}")
            missing = required - set(row)
            if missing:
                raise BackupError(f"backup table {name} misses columns: {', '.join(sorted(missing))}")
        checked[name] = rows
    known = {a["agent_id"] for a in checked["agents"]}
    orphans = {c["agent_id"] for c in checked["capabilities"]} - known
    if orphans:
        raise BackupError(f"backup capabilities name unknown agents: {', '.join(sorted(orphans)[:5])}")
    return checked


@blueprint.post("/admin/restore")
async def restore() -> Response:
    """Replace the registry's content with a backup; a wrong key or tampered blob changes nothing."""
    key = _authorised_key()
    if isinstance(key, Response):
        return key
    blob = await request.get_data(cache=False, as_text=False)
    assert isinstance(blob, bytes)
    try:
        document = decrypt_backup(blob, key)
        if document.get("format") != BACKUP_FORMAT:
            raise BackupError("the backup decrypted but is not a registry backup document")
        version = document.get("schema_version")
        if not isinstance(version, int) or version > LATEST_VERSION:
            raise BackupError(
                f"backup schema version {version!r} is newer than this registry's {LATEST_VERSION}"
            )
        rows = _check_rows(document.get("data"))
    except BackupError as exc:
        log.warning("restore refused", extra={"reason": str(exc)})
        return error_response(f"restore refused: {exc}", 400)
    rt = runtime()
    await rt.liveness.flush()
    await rt.storage.replace_all(rows)
    now = rt.clock.now()
    event_id = await rt.storage.record_event("rotate", ALL_AGENTS, now, {"reason": "restore"})
    rt.liveness.restored(event_id)
    counts = {name: len(items) for name, items in rows.items()}
    log.info("backup restored", extra=counts)
    return json_response(
        {
            "status": "restored",
            "agents": counts["agents"],
            "capabilities": counts["capabilities"],
            "schemas": counts["schema_entries"],
            "backup_created_at": document.get("created_at"),
            "timestamp": clock.rfc3339(now),
        }
    )
