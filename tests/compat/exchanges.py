"""Send a request sequence to a registry, record the answers, and diff two recordings field by field.

Values that differ by nature between two runs (timestamps, uptimes) are replaced by a marker before
the comparison, so their presence and place still count but their values do not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

# Keys whose values are clocks: compared for presence only.
CLOCK_KEYS = frozenset(
    {"timestamp", "created_at", "last_seen", "updated_at", "detected_at", "resolved_at", "uptime_seconds"}
)
# Headers that are part of the contract (others, like Date or Server, are not compared).
COMPARED_HEADERS = ("content-type", "x-health-status", "x-service-version", "x-uptime-seconds")
CLOCK_HEADERS = frozenset({"x-uptime-seconds"})
# A JSON decoding error's detail comes from each implementation's own parser.
DECODER_DETAIL = re.compile(r"^(Invalid JSON payload): .*$", re.DOTALL)
PRESENT = "<present>"
# Lists whose order is no part of the contract. GET /agents' dependency_resolutions carry no position
# (the Go registry lists resolved rows before unresolved ones); the positional contract is the POST
# answer's dependencies_resolved, which is compared in order.
UNORDERED_LISTS = frozenset({"dependency_resolutions"})


@dataclass(frozen=True)
class Step:
    """One request of the sequence, with a name the differences are reported under."""

    name: str
    method: str
    path: str
    params: dict[str, str | list[str]] | None = None
    body: Any = None
    raw_body: bytes | None = None


@dataclass
class Answer:
    """What a registry answered to one step, normalised for comparison."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None


def normalise(value: Any, key: str = "") -> Any:
    """Replace clock values by a marker, trim decoder details, and put unordered lists in one order."""
    if key in CLOCK_KEYS and value is not None:
        return PRESENT
    if isinstance(value, dict):
        return {k: normalise(v, k) for k, v in value.items()}
    if isinstance(value, list):
        items = [normalise(item) for item in value]
        if key == "agents" and all(isinstance(item, dict) and "id" in item for item in items):
            items.sort(key=lambda item: str(item["id"]))
        elif key in UNORDERED_LISTS:
            items.sort(key=lambda item: json.dumps(item, sort_keys=True))
        return items
    if key == "error" and isinstance(value, str):
        return DECODER_DETAIL.sub(r"\1: <decoder detail>", value)
    return value


def send(client: httpx.Client, step: Step) -> Answer:
    """Send one step and normalise the answer."""
    content: bytes | None = step.raw_body
    headers = {}
    if step.body is not None:
        content = json.dumps(step.body).encode()
    if content is not None:
        headers["content-type"] = "application/json"
    response = client.request(step.method, step.path, params=step.params, content=content, headers=headers)
    kept = {}
    for name in COMPARED_HEADERS:
        if name in response.headers:
            kept[name] = PRESENT if name in CLOCK_HEADERS else response.headers[name]
    body: Any = None
    if response.content:
        try:
            body = normalise(response.json())
        except ValueError:
            body = response.text
    return Answer(status=response.status_code, headers=kept, body=body)


def record(base_url: str, steps: Sequence[Step]) -> dict[str, Answer]:
    """Send the whole sequence, in order, to the registry at ``base_url``."""
    # A fresh connection per request: no answer can be lost to a keep-alive connection the server
    # closed while idle (Hypercorn closes them after 5 s, which a loaded machine can reach).
    no_keepalive = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=base_url, timeout=10, limits=no_keepalive) as client:
        return {step.name: send(client, step) for step in steps}


def differences(ours: Any, theirs: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Every (path, ours, theirs) where two JSON-like values differ; missing keys show as <absent>."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        for key in sorted(set(ours) | set(theirs)):
            yield from differences(ours.get(key, "<absent>"), theirs.get(key, "<absent>"), f"{path}.{key}")
    elif isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        for index, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            yield from differences(a, b, f"{path}[{index}]")
    elif ours != theirs or type(ours) is not type(theirs):
        yield path or ".", ours, theirs


def answer_differences(ours: Answer, theirs: Answer) -> Iterator[tuple[str, Any, Any]]:
    """Differences between two answers: status, compared headers, body."""
    if ours.status != theirs.status:
        yield "status", ours.status, theirs.status
    yield from ((f"headers{p}", a, b) for p, a, b in differences(ours.headers, theirs.headers))
    yield from ((f"body{p}", a, b) for p, a, b in differences(ours.body, theirs.body))
