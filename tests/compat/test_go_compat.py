"""Our registry against the real Go registry: the same request sequence, the answers compared field by field.

Timestamps and uptimes are compared for presence only (see ``exchanges.normalise``). Every difference
that is deliberate is listed in DELIBERATE with its reason, and every known gap (a difference to be
removed in registry/) in KNOWN_GAPS; any other difference fails the test, and so does a listed
difference that no longer occurs (so both lists stay true: fixing a gap means deleting its entry).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.compat.exchanges import Answer, Step, answer_differences, record
from tests.compat.go_registry import run_go_registry
from tests.processes import run_registry

pytestmark = [pytest.mark.gocompat, pytest.mark.timeout(120)]

SCHEMA_HASH = "sha256:" + "ab" * 32


def tool(function_name: str, capability: str, **extra: Any) -> dict[str, Any]:
    """A tool entry as the agent runtime sends it."""
    return {"function_name": function_name, "capability": capability, **extra}


def provider(agent_id: str, version: str, tags: list[str], port: int) -> dict[str, Any]:
    """A provider of capability ``svc`` (the spec's §10 example)."""
    return {
        "agent_id": agent_id,
        "name": agent_id,
        "version": version,
        "http_host": "127.0.0.1",
        "http_port": port,
        "runtime": "python",
        "status": "healthy",
        "a2a_producer": False,
        "a2a_consumer": False,
        "tools": [tool("serve", "svc", version=version, tags=tags, kwargs={"task": False})],
    }


CONSUMER_DEPENDENCIES = [
    {"capability": "svc"},
    {"capability": "svc", "version": "<2.0.0"},
    {"capability": "svc", "tags": ["+fast"]},
    {"capability": "svc", "version": ">=3"},
    {"capability": "svc", "tags": ["x", "-fast"], "version": "^1"},
    {"capability": "svc", "tags": [["fast", "nope"]]},
    {"capability": "nothing-here"},
]
CONSUMER = {
    "agent_id": "consumer",
    "name": "consumer",
    "version": "0.1.0",
    "http_host": "127.0.0.1",
    "http_port": 19004,
    "description": "  depends on svc  ",
    "unknown_top_level_key": {"ignored": True},
    "tools": [
        tool("use", "user", tags=["demo"], dependencies=CONSUMER_DEPENDENCIES),
        tool(
            "typed",
            "typed-cap",
            inputSchema={"type": "object"},
            inputSchemaCanonical={"type": "object"},
            inputSchemaHash=SCHEMA_HASH,
        ),
        tool("__mesh_job_status", "__mesh_job_status", tags=["mesh-jobs", "framework"]),
    ],
}

SEQUENCE = [
    Step("root", "GET", "/"),
    Step("health", "GET", "/health"),
    Step("health head", "HEAD", "/health"),
    Step("agents empty", "GET", "/agents"),
    Step("events empty", "GET", "/events"),
    Step("schemas empty", "GET", "/schemas"),
    Step("head unknown agent", "HEAD", "/heartbeat/never-registered"),
    Step("delete unknown agent", "DELETE", "/agents/never-registered"),
    Step("register p-old", "POST", "/heartbeat", body=provider("p-old", "1.5.0", ["x"], 19001)),
    Step("register p-new", "POST", "/heartbeat", body=provider("p-new", "2.1.0", ["x"], 19002)),
    Step("register p-pref", "POST", "/heartbeat", body=provider("p-pref", "1.0.0", ["x", "fast"], 19003)),
    Step("register consumer", "POST", "/heartbeat", body=CONSUMER),
    Step("head consumer after own registration", "HEAD", "/heartbeat/consumer"),
    Step("head p-old after consumer joined", "HEAD", "/heartbeat/p-old"),
    Step("update consumer", "POST", "/heartbeat", body=CONSUMER),
    Step("head consumer after update", "HEAD", "/heartbeat/consumer"),
    Step("update p-old", "POST", "/heartbeat", body=provider("p-old", "1.5.0", ["x"], 19001)),
    Step("head p-old after update", "HEAD", "/heartbeat/p-old"),
    Step("agents all", "GET", "/agents"),
    Step("agents by capability", "GET", "/agents", params={"capabilities": "svc"}),
    Step("agents by two capabilities", "GET", "/agents", params={"capabilities": ["user", "typed-cap"]}),
    Step("agents fuzzy", "GET", "/agents", params={"capabilities": "SV", "fuzzy": "true"}),
    Step("agents no match", "GET", "/agents", params={"capabilities": "nope"}),
    Step("agents healthy", "GET", "/agents", params={"status": "healthy"}),
    Step("agents unhealthy", "GET", "/agents", params={"status": "unhealthy"}),
    Step("agents namespace", "GET", "/agents", params={"namespace": "default"}),
    Step("agents other namespace", "GET", "/agents", params={"namespace": "elsewhere"}),
    Step("agents by type", "GET", "/agents", params={"type": "mcp_agent"}),
    Step("schemas", "GET", "/schemas"),
    Step("schema by hash", "GET", f"/schemas/{SCHEMA_HASH}"),
    Step("schema unknown", "GET", "/schemas/sha256:unknown"),
    Step("delete p-new", "DELETE", "/agents/p-new"),
    Step("delete p-new again", "DELETE", "/agents/p-new"),
    Step("head p-new after delete", "HEAD", "/heartbeat/p-new"),
    Step("head p-old after delete", "HEAD", "/heartbeat/p-old"),
    Step("consumer after provider left", "POST", "/heartbeat", body=CONSUMER),
    Step("agents unhealthy after delete", "GET", "/agents", params={"status": "unhealthy"}),
    Step("re-register p-new", "POST", "/heartbeat", body=provider("p-new", "2.1.0", ["x"], 19002)),
    Step("head p-old after revival", "HEAD", "/heartbeat/p-old"),
    Step("events of p-new", "GET", "/events", params={"agent_id": "p-new"}),
    Step("events unregister", "GET", "/events", params={"type": "unregister"}),
    Step("events unknown type", "GET", "/events", params={"type": "bogus"}),
    Step("events limited", "GET", "/events", params={"type": "register", "limit": "2"}),
    Step("tools wiped by empty post", "POST", "/heartbeat", body={"agent_id": "p-pref"}),
    Step("agents after wipe", "GET", "/agents", params={"capabilities": "svc"}),
    # Bad input: malformed or mistyped JSON is 400; semantic rejections are 200 with status "error".
    Step("malformed json", "POST", "/heartbeat", raw_body=b"{bad"),
    Step("empty body", "POST", "/heartbeat", raw_body=b""),
    Step("json array body", "POST", "/heartbeat", body=[]),
    Step("missing agent_id", "POST", "/heartbeat", body={"name": "x"}),
    Step("empty agent_id", "POST", "/heartbeat", body={"agent_id": ""}),
    Step("mistyped http_port", "POST", "/heartbeat", body={"agent_id": "typo", "http_port": "x"}),
    Step("bad timestamp", "POST", "/heartbeat", body={"agent_id": "typo", "timestamp": "yesterday"}),
    Step(
        "dependency as array",
        "POST",
        "/heartbeat",
        body={"agent_id": "typo", "tools": [tool("f", "c", dependencies=[["svc"]])]},
    ),
    Step("uppercase agent_id", "POST", "/heartbeat", body={"agent_id": "Bad_ID"}),
    Step("bad namespace", "POST", "/heartbeat", body={"agent_id": "typo", "namespace": "Not Valid"}),
    Step("nothing stored from bad input", "GET", "/agents", params={"capabilities": "c"}),
    Step("unknown route", "GET", "/no-such-route"),
    Step("job claim", "POST", "/jobs/claim", body={"capability": "svc", "instance_id": "worker-1"}),
    Step("job claim without capability", "POST", "/jobs/claim", body={"instance_id": "worker-1"}),
    Step("a2a surfaces", "GET", "/a2a/agents"),
    Step("agents final", "GET", "/agents"),
]

# (step name pattern, difference path pattern) -> why ours differs on purpose.
DELIBERATE: dict[tuple[str, str], str] = {
    ("health", "body.instance_id"): "the lab's registry names its instance (leader election, HA lessons)",
    (
        "health",
        "body.leader",
    ): "the lab's registry says whether it leads (only the leader is ready on SQLite)",
    ("unknown route", "headers.content-type"): "every error of ours is JSON that says what was wrong",
    ("unknown route", "body."): "every error of ours is JSON that says what was wrong",
}
# Differences found by this test and reported to the registry's owner; delete an entry once fixed.
KNOWN_GAPS: dict[tuple[str, str], str] = {}
EXPLAINED = {**DELIBERATE, **KNOWN_GAPS}


def expected(step: str, path: str) -> str | None:
    """The reason a difference is deliberate or known, if it is listed."""
    for (step_pattern, path_pattern), reason in EXPLAINED.items():
        if fnmatch.fnmatchcase(step, step_pattern) and fnmatch.fnmatchcase(path, path_pattern):
            return reason
    return None


@pytest.fixture
def go_answers(go_registry_bin: Path, tmp_path: Path) -> dict[str, Answer]:
    """The Go registry's answers to the sequence."""
    with run_go_registry(tmp_path) as go:
        return record(go.url, SEQUENCE)


@pytest.fixture
def our_answers(tmp_path: Path) -> dict[str, Answer]:
    """Our registry's answers to the sequence."""
    with run_registry(tmp_path) as ours:
        return record(ours.url, SEQUENCE)


def unexplained(ours: dict[str, Answer], go: dict[str, Answer]) -> Iterator[str]:
    """Each difference not explained, and each DELIBERATE or KNOWN_GAPS entry that matched nothing."""
    used: set[tuple[str, str]] = set()
    for step in SEQUENCE:
        for path, mine, theirs in answer_differences(ours[step.name], go[step.name]):
            if expected(step.name, path) is None:
                yield f"{step.name!r} {step.method} {step.path}: {path}: ours={mine!r} go={theirs!r}"
            else:
                used.update(
                    key
                    for key in EXPLAINED
                    if fnmatch.fnmatchcase(step.name, key[0]) and fnmatch.fnmatchcase(path, key[1])
                )
    for key in EXPLAINED.keys() - used:
        yield f"entry {key} no longer matches any difference: remove it"


def test_same_answers_as_the_go_registry(
    our_answers: dict[str, Answer], go_answers: dict[str, Answer]
) -> None:
    problems = list(unexplained(our_answers, go_answers))
    assert not problems, f"{len(problems)} differences from the Go registry:\n" + "\n".join(problems)


def test_go_registry_answers_are_reproducible(go_registry_bin: Path, tmp_path: Path) -> None:
    """Two Go runs agree once clocks are masked: the normalisation hides only what is nondeterministic."""
    with run_go_registry(tmp_path) as first:
        one = record(first.url, SEQUENCE)
    with run_go_registry(tmp_path) as second:
        two = record(second.url, SEQUENCE)
    problems = [
        f"{step.name}: {path}: {a!r} vs {b!r}"
        for step in SEQUENCE
        for path, a, b in answer_differences(one[step.name], two[step.name])
    ]
    assert not problems, "\n".join(problems)
