"""The MeshJob routes of the protocol (``task=True`` tool calls): submit, claim, batch, events, cancel.

Bodies are checked field by field before anything is stored; a wrong type or a missing field is a 400
naming it, as the Go registry's typed binding answers. Times are epoch seconds, as in Go.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from quart import Blueprint, Response, request
from werkzeug.routing import BaseConverter

from registry import clock
from registry.routes.common import (
    BadJson,
    error_response,
    json_response,
    parse_json,
    request_bytes,
    runtime,
)
from registry.storage.jobs import (
    STATUSES,
    Delta,
    JobListQuery,
    JobNotFound,
    JobTerminal,
    NewJob,
    NotOwner,
    ReclaimConflict,
    event_document,
    job_document,
)

blueprint = Blueprint("jobs", __name__)


class JobIdConverter(BaseConverter):
    """A job id: one path segment, but not ``claim`` or ``batch`` (``/jobs/claim`` is not a job)."""

    regex = r"(?!(?:claim|batch)$)[^/]+"


@blueprint.record_once
def _register_converter(state: Any) -> None:
    state.app.url_map.converters["jobid"] = JobIdConverter


LIST_MAX = 200
EVENTS_MAX = 500
CANCEL_HEADERS = ("X-Trace-ID", "X-Parent-Span", "X-Mesh-Timeout")


class BadField(ValueError):
    """A body field has the wrong type or value; the message names it."""


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadField("Invalid JSON payload: expected a JSON object")
    return body


def _string(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadField(f"Invalid JSON payload: {name} must be a string")
    return value


def _required(body: dict[str, Any], name: str) -> str:
    value = _string(body, name)
    if value is None or not value.strip():
        raise BadField(f"{name} is required")
    return value


INT32 = 2**31 - 1
EPOCH_LIMIT = 2**53  # seconds: far beyond any date, and exact in every database's integer and float


def _integer(body: dict[str, Any], name: str, low: int = -EPOCH_LIMIT, high: int = EPOCH_LIMIT) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadField(f"Invalid JSON payload: {name} must be an integer")
    if not low <= value <= high:
        raise BadField(f"Invalid JSON payload: {name} must be in [{low}, {high}], got {value}")
    return value


async def _body(optional: bool = False) -> dict[str, Any]:
    """The JSON object sent; ``optional`` bodies may be empty (then ``{}``)."""
    raw = await request_bytes()
    if optional and not raw.strip():
        return {}
    try:
        return _object(parse_json(raw, runtime().settings.max_body_bytes))
    except BadJson as exc:
        raise BadField(f"Invalid JSON payload: {exc}") from None


def _new_job(body: dict[str, Any]) -> NewJob:
    capability = _required(body, "capability")
    submitted_by = _required(body, "submitted_by")
    payload = body.get("submitted_payload")
    if payload is None:
        raise BadField("submitted_payload is required")
    if not isinstance(payload, dict):
        raise BadField("Invalid JSON payload: submitted_payload must be an object")
    max_retries = _integer(body, "max_retries", high=INT32)
    if max_retries is not None and max_retries < 0:
        raise BadField("max_retries must be non-negative")
    max_duration = _integer(body, "max_duration", high=INT32)
    if max_duration is not None and max_duration < 1:
        raise BadField("max_duration must be positive")
    total_deadline = _integer(body, "total_deadline")
    return NewJob(
        capability=capability,
        submitted_by=submitted_by,
        submitted_payload=payload,
        owner_instance_id=_string(body, "owner_instance_id") or None,
        max_retries=1 if max_retries is None else max_retries,
        max_duration=max_duration,
        total_deadline=total_deadline,
    )


def _delta(item: Any) -> Delta:
    if not isinstance(item, dict):
        raise BadField("Invalid JSON payload: every delta must be an object")
    job_id = _string(item, "id")
    if not job_id:
        raise BadField("every delta requires a non-empty id")
    progress = item.get("progress")
    if progress is not None and (isinstance(progress, bool) or not isinstance(progress, int | float)):
        raise BadField("Invalid JSON payload: progress must be a number")
    result = item.get("result")
    if result is not None and not isinstance(result, dict):
        raise BadField("Invalid JSON payload: result must be an object")
    recv_cursor = item.get("recv_cursor")
    if recv_cursor is not None and not isinstance(recv_cursor, dict):
        raise BadField("Invalid JSON payload: recv_cursor must be an object")
    return Delta(
        id=job_id,
        claim_epoch=_integer(item, "claim_epoch", low=0),
        status=_string(item, "status"),
        progress=None if progress is None else float(progress),
        progress_message=_string(item, "progress_message"),
        result=result,
        error=_string(item, "error"),
        recv_cursor=recv_cursor,
    )


def _not_found(job_id: str) -> Response:
    return error_response(f"job not found: {job_id}", 404)


def _terminal() -> Response:
    return error_response("job is already in a terminal state", 409)


@blueprint.before_request
async def _only_the_sqlite_leader_serves() -> Response | None:
    """A SQLite follower's file is not the mesh's: its jobs are the leader's to serve (active/passive)."""
    rt = runtime()
    if rt.leadership.enabled and rt.settings.database_type == "sqlite" and not rt.leadership.is_leader:
        response = error_response("not the leader: with SQLite only the leader serves jobs", 503)
        response.headers["Retry-After"] = "2"
        return response
    return None


@blueprint.errorhandler(BadField)
async def _bad_field(exc: BadField) -> Response:
    return error_response(str(exc), 400)


@blueprint.post("/jobs")
async def submit_job() -> Response:
    """Queue a job: pull mode (claimed later) or push mode (``owner_instance_id`` pinned)."""
    new = _new_job(await _body())
    row = await runtime().job_store.create(new, clock.now())
    return json_response(
        {"id": row.job_id, "owner_instance_id": row.owner_instance_id, "status": row.status}, 201
    )


def _cursor(raw: str) -> tuple[float, str]:
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        at, job_id = text.split(":", 1)
        if not job_id:
            raise ValueError("no id")
        return float(at), job_id
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadField(f"invalid cursor {raw!r}") from None


def _encode_cursor(row: Any) -> str:
    return base64.urlsafe_b64encode(f"{row.submitted_at!r}:{row.job_id}".encode()).decode().rstrip("=")


def _query_int(name: str, default: int, low: int, high: int) -> int:
    values = request.args.getlist(name)
    if not values:
        return default
    if len(values) > 1:
        raise BadField(f"{name} must be given once, got {len(values)} values")
    raw = values[0]
    try:
        value = int(raw)
    except ValueError:
        raise BadField(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise BadField(f"{name} must be in [{low}, {high}], got {value}")
    return value


@blueprint.get("/jobs")
async def list_jobs() -> Response:
    args = request.args
    statuses = tuple(s.strip() for s in args.get("status", "").split(",") if s.strip())
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown:
        raise BadField(f"invalid status {unknown[0]!r}: must be one of {','.join(STATUSES)}")
    cursor = args.get("cursor", "").strip()
    query = JobListQuery(
        statuses=statuses,
        owner_instance_id=args.get("owner_instance_id", "").strip(),
        capability=args.get("capability", "").strip(),
        submitted_since=_query_int("submitted_since", 0, 0, EPOCH_LIMIT),
        limit=_query_int("limit", 50, 1, LIST_MAX),
        cursor=_cursor(cursor) if cursor else None,
    )
    rows, last = await runtime().job_store.page(query)
    return json_response(
        {
            "jobs": [job_document(r) for r in rows],
            "next_cursor": None if last is None else _encode_cursor(last),
        }
    )


@blueprint.get("/jobs/<jobid:job_id>")
async def get_job(job_id: str) -> Response:
    row = await runtime().job_store.get(job_id)
    return _not_found(job_id) if row is None else json_response(job_document(row))


@blueprint.post("/jobs/claim")
async def claim_jobs() -> Response:
    """At most one job per call; nothing while draining, and nothing for an unregistered instance."""
    body = await _body()
    capability = _required(body, "capability")
    instance_id = _required(body, "instance_id")
    rt = runtime()
    if rt.job_service.draining or not await rt.job_store.instance_known(instance_id):
        return json_response({"claimed": []})
    row = await rt.job_store.claim(capability, instance_id, clock.now())
    if row is None:
        return json_response({"claimed": []})
    claimed = {
        "id": row.job_id,
        "attempt_count": row.attempt_count,
        "claim_epoch": row.claim_epoch,
        "lease_expires_at": None if row.lease_expires_at is None else int(row.lease_expires_at),
        "max_duration": row.max_duration,
        "recv_cursor": row.recv_cursor,
        "submitted_payload": row.submitted_payload,
    }
    return json_response({"claimed": [claimed]})


@blueprint.post("/jobs/batch")
async def job_batch() -> Response:
    """Progress and terminal deltas from one owner; each accepted delta renews its job's lease."""
    body = await _body()
    instance_id = _required(body, "instance_id")
    raw = body.get("deltas")
    if raw is not None and not isinstance(raw, list):
        raise BadField("Invalid JSON payload: deltas must be an array")
    if not raw:
        raise BadField("deltas must not be empty")
    deltas = [_delta(item) for item in raw]
    accepted, rejected = await runtime().job_store.apply_deltas(instance_id, deltas, clock.now())
    return json_response({"accepted": accepted, "rejected": rejected})


@blueprint.post("/jobs/<jobid:job_id>/release")
async def release_job(job_id: str) -> Response:
    body = await _body()
    instance_id = _required(body, "instance_id")
    reason = _string(body, "reason") or ""
    try:
        row = await runtime().job_store.release(job_id, instance_id.strip(), reason, clock.now())
    except JobNotFound:
        return _not_found(job_id)
    except JobTerminal:
        return _terminal()
    except NotOwner:
        return error_response("caller is not the current owner of this job", 403)
    return json_response({"status": row.status, "attempt_count": row.attempt_count})


@blueprint.post("/jobs/<jobid:job_id>/cancel")
async def cancel_job(job_id: str) -> Response:
    """Cancel in the database first (with a ``cancelled`` event), then tell the owner, best effort."""
    body = await _body(optional=True)
    reason = _string(body, "reason") or ""
    rt = runtime()
    try:
        row, owner = await rt.job_store.cancel(job_id, reason, clock.now(), None)
    except JobNotFound:
        return _not_found(job_id)
    except JobTerminal:
        return _terminal()
    await rt.job_service.notify_posted()
    if owner is not None:
        headers = {name: request.headers[name] for name in CANCEL_HEADERS if name in request.headers}
        rt.job_service.forward_cancel(owner, job_id, reason, headers)
    return json_response({"status": row.status, "forwarded_to_instance_id": owner})


@blueprint.post("/jobs/<jobid:job_id>/reclaim")
async def reclaim_job(job_id: str) -> Response:
    """Evict the owner (``meshctl job reclaim``): the job is claimable again, the next claim fences."""
    try:
        row, owner = await runtime().job_store.reclaim(job_id)
    except JobNotFound:
        return _not_found(job_id)
    except JobTerminal:
        return _terminal()
    except ReclaimConflict:
        return error_response("job was re-claimed concurrently; reclaim not applied", 409)
    return json_response(
        {"status": row.status, "previous_owner_instance_id": owner, "claim_epoch": row.claim_epoch}
    )


@blueprint.post("/jobs/<jobid:job_id>/events")
async def post_job_event(job_id: str) -> Response:
    body = await _body()
    event_type = (_string(body, "type") or "").strip()
    if not event_type:
        raise BadField("type is required")
    trace_context = body.get("trace_context")
    if trace_context is not None and not isinstance(trace_context, dict):
        raise BadField("Invalid JSON payload: trace_context must be an object")
    rt = runtime()
    now = clock.now()
    try:
        seq = await rt.job_store.post_event(job_id, event_type, body.get("payload"), trace_context, None, now)
    except JobNotFound:
        return _not_found(job_id)
    except JobTerminal:
        return _terminal()
    await rt.job_service.notify_posted()
    return json_response({"job_id": job_id, "seq": seq, "created_at": int(now)})


@blueprint.get("/jobs/<jobid:job_id>/events")
async def list_job_events(job_id: str) -> Response:
    """Events after ``after``; ``wait`` long-polls up to 60 s; an owner's fenced read renews its lease."""
    args = request.args
    instance_id = args.get("instance_id", "")
    has_epoch = args.get("claim_epoch") not in (None, "")
    if bool(instance_id) != has_epoch:
        raise BadField(
            "instance_id and claim_epoch must be supplied together "
            "(both for an executor read, or neither for an observer read)"
        )
    after = _query_int("after", 0, 0, EPOCH_LIMIT)
    wait = _query_int("wait", 0, 0, 60)
    limit = _query_int("limit", 100, 1, EVENTS_MAX)
    types = [t.strip() for t in args.get("types", "").split(",") if t.strip()]
    rt = runtime()
    if instance_id:
        epoch = _query_int("claim_epoch", 0, 0, EPOCH_LIMIT)
        try:
            outcome = await rt.job_store.executor_read(job_id, instance_id, epoch, clock.now())
        except JobNotFound:
            return _not_found(job_id)
        if outcome == "superseded":
            return error_response("claim_superseded", 409)
    rows = await rt.job_service.wait_events(job_id, after, types, wait, limit)
    if rows is None:
        return _not_found(job_id)
    events = [event_document(row) for row in rows]
    next_after = max([after, *(e["seq"] for e in events)])
    return json_response({"events": events, "next_after": next_after})
