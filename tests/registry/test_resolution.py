"""Provider selection by the real registry's rules (spec §10), without a database."""

from __future__ import annotations

import pytest

from registry.model import DependencySpec as Dep
from registry.resolution import Provider, Resolver, find_required_cycle, tag_score


def provider(agent_id: str, version: str = "1.0.0", tags: tuple[str, ...] = (), **extra: object) -> Provider:
    return Provider(
        agent_id, "f", "svc", version, tags, f"http://{agent_id}:1", extra.pop("healthy", True), **extra
    )  # type: ignore[arg-type]


SPEC_PROVIDERS = [
    provider("p-old", "1.5.0", ("x",)),
    provider("p-new", "2.1.0", ("x",)),
    provider("p-pref", "1.0.0", ("x", "fast")),
]


@pytest.mark.parametrize(
    ("dependency", "winner"),
    [
        (Dep("svc"), "p-new"),
        (Dep("svc", version="<2.0.0"), "p-old"),
        (Dep("svc", tags=("+fast",)), "p-pref"),
        (Dep("svc", version=">=3"), None),
        (Dep("svc", tags=("x", "-fast"), version="^1"), "p-old"),
        (Dep("svc", tags=(("missing", "fast"),)), "p-pref"),
        (Dep("other"), None),
    ],
)
def test_spec_examples(dependency: Dep, winner: str | None) -> None:
    chosen = Resolver({"svc": SPEC_PROVIDERS}).resolve(dependency).provider
    assert (chosen.agent_id if chosen else None) == winner


def test_unhealthy_providers_are_skipped_and_ties_go_to_agent_id() -> None:
    providers = [provider("b"), provider("a"), provider("0-sick", healthy=False)]
    assert Resolver({"svc": providers}).resolve(Dep("svc")).provider.agent_id == "a"  # type: ignore[union-attr]


def test_valid_versions_beat_invalid_ones() -> None:
    providers = [provider("a", "latest"), provider("b", "0.1.0")]
    assert Resolver({"svc": providers}).resolve(Dep("svc")).provider.agent_id == "b"  # type: ignore[union-attr]


def test_required_dependencies_must_resolve_transitively() -> None:
    needs_db = provider("needs-db", "9.0.0", required_dependencies=(Dep("db", required=True),))
    plain = provider("plain", "1.0.0")
    without_db = Resolver({"svc": [needs_db, plain], "db": []})
    assert without_db.resolve(Dep("svc")).provider.agent_id == "plain"  # type: ignore[union-attr]
    db = Provider("db-1", "q", "db", "1.0.0", (), "http://db:1", True)
    with_db = Resolver({"svc": [needs_db, plain], "db": [db]})
    assert with_db.resolve(Dep("svc")).provider.agent_id == "needs-db"  # type: ignore[union-attr]


def test_wire_items() -> None:
    resolved = Resolver({"svc": [provider("a", kwargs={"task": False})]}).resolve(Dep("svc"))
    assert resolved.to_wire() == {
        "agent_id": "a",
        "capability": "svc",
        "endpoint": "http://a:1",
        "function_name": "f",
        "status": "available",
        "kwargs": {"task": False},
    }
    missing = Resolver({}).resolve(Dep("nothing-here")).to_wire()
    assert missing == {
        "agent_id": "",
        "capability": "nothing-here",
        "endpoint": "",
        "function_name": "",
        "status": "unresolved",
    }


@pytest.mark.parametrize(
    ("wanted", "offered", "score"),
    [
        ((), (), 0),
        (("a",), ("a",), 5),
        (("a",), (), None),
        (("+a",), (), 0),
        (("+a",), ("a",), 10),
        (("-a",), ("a",), None),
        (("-a",), (), 0),
        ((("a", "b"),), ("b",), 5),
        ((("a", "+b"),), ("b",), 10),
        ((("a", "b"),), ("c",), None),
    ],
)
def test_tag_scores(wanted: tuple, offered: tuple, score: int | None) -> None:  # type: ignore[type-arg]
    assert tag_score(wanted, offered) == score


def test_cycle_detection() -> None:
    assert find_required_cycle("a", {"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert find_required_cycle("a", {"a": {"b"}, "b": {"c"}}) is None
    assert find_required_cycle("a", {"a": {"a"}}) == ["a", "a"]
