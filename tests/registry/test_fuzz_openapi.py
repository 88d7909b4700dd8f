"""Property-based test of every route the registry's own /openapi.json describes (schemathesis).

The real registry process is fuzzed with valid and invalid (negative) input generated from its OpenAPI
document. Whatever arrives: no 5xx, the process stays up, and a rejected request (4xx, or a 200 whose
body says ``status: "error"``) stores nothing: every row of the registry's SQLite file (read directly,
heartbeat times aside) and what the API lists are the same before and after it. Every response also
goes through all of schemathesis' checks (``st run --checks all``), configured by the repository's
``schemathesis.toml``. Bounded by max examples and a time budget per operation and mode.

Each operation's cases come from schemathesis' Hypothesis strategies driven by ``@given`` (schemathesis'
own lazy pytest loader, ``from_fixture``, does not work with pytest 9). Every operation and mode is
run, and all failures are reported together.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS
from schemathesis.config import SchemathesisConfig

from tests.processes import REPO_ROOT, RunningProcess, run_registry

MAX_EXAMPLES_PER_OPERATION = 20
# Generating invalid path parameters is slow in schemathesis (seconds per example), so each operation
# and mode also gets a time budget; whichever ends first ends its run.
SECONDS_PER_OPERATION = 2.5
AUTH_TOKEN = "fuzz-admin-token"
# Values that move by themselves (clocks) are left out of the state snapshot.
VOLATILE_KEYS = frozenset({"timestamp", "last_seen", "uptime_seconds"})
# The batch of last-seen and last-full-refresh times (HEADs, unchanged re-posts) is written up to a second
# after its requests, so it may land between the snapshots around a later, rejected request.
VOLATILE_COLUMNS = frozenset({"updated_at", "last_full_refresh"})
# Methods that never store anything by design; the state is compared around every other request.
READ_METHODS = frozenset({"GET", "OPTIONS"})

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def fuzzed_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProcess]:
    """One real registry for the whole module; nothing expires during the run."""
    env = {
        "AGENT_TIMEOUT": "1h",
        "HEALTH_CHECK_INTERVAL": "1h",
        "AUTH_TOKEN": AUTH_TOKEN,
        "ENCRYPTION_KEY": "k" * 32,
        "LOG_LEVEL": "warning",
    }
    with run_registry(tmp_path_factory.mktemp("fuzz"), env) as registry:
        yield registry


@pytest.fixture(scope="module")
def api_schema(fuzzed_registry: RunningProcess) -> Any:
    """The registry's own OpenAPI document, as served."""
    config = SchemathesisConfig.from_path(REPO_ROOT / "schemathesis.toml")
    schema = schemathesis.openapi.from_url(fuzzed_registry.url + "/openapi.json", config=config)
    schema.config.update(base_url=fuzzed_registry.url)
    return schema


def without_volatile(value: Any) -> Any:
    """``value`` with clock fields removed, recursively."""
    if isinstance(value, dict):
        return {k: without_volatile(v) for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [without_volatile(item) for item in value]
    return value


def database_rows(database: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table in the registry's SQLite file, read directly (no cache in between).

    Columns named in VOLATILE_COLUMNS are left out: batched heartbeat times move them without a request.
    """
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)) as db:
        names = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for name in names:
            columns = [row[1] for row in db.execute(f'PRAGMA table_info("{name}")')]
            kept = ", ".join(f'"{c}"' for c in columns if c not in VOLATILE_COLUMNS)
            tables[name] = sorted(db.execute(f'SELECT {kept} FROM "{name}"').fetchall(), key=repr)
    return tables


def stored_state(client: httpx.Client, database: Path) -> dict[str, Any]:
    """What the registry has stored: its database's rows, and what its API lists (agents, events)."""
    agents = client.get("/agents").json()
    events = client.get("/events", params={"limit": "500"}).json()
    listed = without_volatile({"agents": agents.get("agents"), "events": events.get("events")})
    return {"database": database_rows(database), "api": listed}


def rejected(response: Any) -> bool:
    """Whether the registry refused the request (4xx, or the protocol's 200 with status "error")."""
    if 400 <= response.status_code < 500:
        return True
    if response.status_code == 200 and response.content:
        try:
            body = response.json()
        except ValueError:
            return False
        return isinstance(body, dict) and body.get("status") == "error"
    return False


class BudgetSpent(Exception):
    """Raised inside the Hypothesis test when its operation's time budget is used up."""


def keep_local_and_short(case: Any) -> None:
    """Proxied requests only ever aim at loopback; long-polls wait at most a second."""
    rest = (case.path_parameters or {}).get("rest")
    if isinstance(rest, str):
        case.path_parameters["rest"] = re.sub(r"^[^/]*:", "127.0.0.1:", rest, count=1)
    wait = (case.query or {}).get("wait")
    if isinstance(wait, int) and wait > 1:
        case.query["wait"] = 1


def check_case(case: Any, registry: RunningProcess, client: httpx.Client) -> None:
    """One generated case: no 5xx, every check passes, the process lives, a rejected write stores nothing."""
    keep_local_and_short(case)
    writes = case.method.upper() not in READ_METHODS
    database = Path(registry.env["DATABASE_PATH"])
    before = stored_state(client, database) if writes else {}
    response = case.call()
    case.validate_response(response, checks=CHECKS.get_all())
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} answered {response.status_code}: {response.text[:500]}\n"
        f"reproduce: {case.as_curl_command()}"
    )
    assert registry.proc.poll() is None, f"the registry process died\n{registry.log()[-3000:]}"
    if writes and rejected(response):
        after = stored_state(client, database)
        changed = [
            f"{part}.{name}"
            for part in ("database", "api")
            for name in sorted(set(before[part]) | set(after[part]))
            if before[part].get(name) != after[part].get(name)
        ]
        assert not changed, (
            f"{case.method} {case.formatted_path} was rejected ({response.status_code} "
            f"{response.text[:300]}) but it changed {changed}\nreproduce: {case.as_curl_command()}"
        )


def fuzz_operation(
    operation: Any, mode: GenerationMode, registry: RunningProcess, client: httpx.Client
) -> None:
    """Run one operation's generated cases in one mode, within its example count and time budget."""
    budget_ends = time.monotonic() + SECONDS_PER_OPERATION
    failed = False

    @settings(
        max_examples=MAX_EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case: Any) -> None:
        nonlocal failed
        # Once a case has failed, Hypothesis replays it: never mask that with the budget.
        if not failed and time.monotonic() > budget_ends:
            raise BudgetSpent
        try:
            check_case(case, registry, client)
        except Exception:
            failed = True
            raise

    # Unsatisfiable: no invalid input exists (no parameters or body); BudgetSpent: the time is up.
    with contextlib.suppress(Unsatisfiable, BudgetSpent):
        fuzz()


def test_any_input_is_answered_without_server_error_and_rejections_store_nothing(
    api_schema: Any, fuzzed_registry: RunningProcess
) -> None:
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10, f"the document lists only {len(operations)} operations"
    with httpx.Client(base_url=fuzzed_registry.url, timeout=10) as client:
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    fuzz_operation(operation, mode, fuzzed_registry, client)
                except Exception as exc:
                    failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, f"{len(failures)} operations failed:\n" + "\n\n".join(failures)


def test_the_document_covers_the_routes_agents_and_the_guide_use(fuzzed_registry: RunningProcess) -> None:
    """The fuzzer only reaches what the document lists: make sure the important routes are there."""
    paths = httpx.get(fuzzed_registry.url + "/openapi.json", timeout=10).json()["paths"]
    expected = {
        ("/heartbeat", "post"),
        ("/heartbeat/{agent_id}", "head"),
        ("/agents", "get"),
        ("/agents", "post"),
        ("/agents/{agent_id}", "delete"),
        ("/events", "get"),
        ("/health", "get"),
        ("/ready", "get"),
        ("/capabilities", "get"),
        ("/admin/restore", "post"),
    }
    listed = {(path, method) for path, operations in paths.items() for method in operations}
    assert expected <= listed, f"missing from /openapi.json: {sorted(expected - listed)}"


def test_registry_survived_the_run(fuzzed_registry: RunningProcess) -> None:
    """After all the fuzzing, the process still answers its liveness probe."""
    assert fuzzed_registry.proc.poll() is None
    assert httpx.get(fuzzed_registry.url + "/health", timeout=10).status_code == 200
