"""The load generator: bounded concurrency, one row per request, a summary that adds up."""

from __future__ import annotations

import asyncio

import pytest

import labkit as lk
from tests.labkit.stub_registry import StubState
from tests.processes import free_port


def test_register_load_registers_every_agent(stub: tuple[str, StubState]) -> None:
    url, state = stub
    result = lk.load_test(url, n=40, concurrency=8, progress=False)
    assert len(state.agents) == 40
    assert list(result.df.columns) == ["index", "started", "latency_s", "status", "ok", "error"]
    assert result.df["index"].tolist() == list(range(40))
    assert (result.df["status"] == 200).all()
    summary = result.summary
    assert summary["requests"] == 40
    assert summary["success_rate"] == 1.0
    assert summary["p50_ms"] <= summary["p95_ms"] <= summary["p99_ms"]
    assert summary["throughput_rps"] == pytest.approx(40 / summary["duration_s"])


def test_heartbeat_kinds(stub: tuple[str, StubState]) -> None:
    url, state = stub
    assert (
        lk.load_test(url, n=10, concurrency=5, kind="heartbeat", progress=False).summary["success_rate"]
        == 1.0
    )
    fast = lk.load_test(url, n=10, concurrency=5, kind="fast-heartbeat", prefix="other", progress=False)
    assert fast.summary["success_rate"] == 1.0
    assert sorted(state.agents)[:2] == ["other-0", "other-1"]


def test_failures_are_counted_not_raised(stub: tuple[str, StubState]) -> None:
    url, _ = stub
    # unknown agents answer 410 to a fast heartbeat when they were never registered: force that by a
    # prefix the stub rejects on registration (upper case), so the timed HEADs all fail
    result = lk.load_test(url, n=6, concurrency=3, kind="fast-heartbeat", prefix="Upper", progress=False)
    assert result.summary["success_rate"] == 0.0
    assert result.summary["errors"] == 6
    assert set(result.df["status"]) == {410}


def test_works_inside_a_running_event_loop(stub: tuple[str, StubState]) -> None:
    url, state = stub

    async def notebook_cell() -> lk.LoadResult:
        return lk.load_test(url, n=5, concurrency=5, progress=False)

    assert asyncio.run(notebook_cell()).summary["requests"] == 5
    assert len(state.agents) == 5


def test_a_registry_that_does_not_answer_is_one_clear_error() -> None:
    with pytest.raises(lk.RegistryUnavailable, match="did not answer any request"):
        lk.load_test(f"http://127.0.0.1:{free_port()}", n=3, concurrency=3, progress=False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "n must be at least 1"),
        ({"concurrency": "10"}, "concurrency must be int, not str"),
        ({"kind": "delete"}, "kind must be one of register, heartbeat, fast-heartbeat"),
    ],
)
def test_bad_parameters(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(lk.BadParameter, match=message):
        lk.load_test("http://127.0.0.1:1", progress=False, **kwargs)  # type: ignore[arg-type]


def test_a_sustained_load_repeats_rounds_until_its_time_is_up(stub: tuple[str, StubState]) -> None:
    url, state = stub
    result = lk.sustained_load(url, n=10, concurrency=5, kind="heartbeat", seconds=0.5, progress=False)
    rounds = result.df["round"].nunique()
    assert rounds >= 1
    assert result.summary["requests"] == len(result.df) == 10 * rounds
    assert result.summary["duration_s"] >= 0.5
    assert result.df.groupby("round")["started"].min().is_monotonic_increasing
    assert len(state.agents) == 10  # the same agents each round


@pytest.mark.parametrize("seconds", [0, -1, True, "5"])
def test_a_sustained_load_needs_a_positive_duration(seconds: object) -> None:
    with pytest.raises(lk.BadParameter, match="seconds must be a positive number"):
        lk.sustained_load("http://127.0.0.1:1", seconds=seconds, progress=False)  # type: ignore[arg-type]
