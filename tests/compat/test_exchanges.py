"""Unit tests of the comparison machinery the Go compatibility test relies on."""

from __future__ import annotations

from tests.compat.exchanges import PRESENT, Answer, answer_differences, differences, normalise


def test_clock_values_are_masked_but_their_presence_counts() -> None:
    assert normalise({"timestamp": "2026-11-24T07:51:27Z", "count": 2}) == {"timestamp": PRESENT, "count": 2}
    assert list(differences(normalise({"timestamp": "a"}), normalise({}))) == [
        (".timestamp", PRESENT, "<absent>")
    ]


def test_agents_are_compared_by_id_whatever_their_order() -> None:
    ours = normalise({"agents": [{"id": "b"}, {"id": "a"}]})
    theirs = normalise({"agents": [{"id": "a"}, {"id": "b"}]})
    assert list(differences(ours, theirs)) == []


def test_positional_lists_keep_their_order() -> None:
    ours = normalise({"dependencies_resolved": {"use": [{"agent_id": "p1"}, {"agent_id": "p2"}]}})
    theirs = normalise({"dependencies_resolved": {"use": [{"agent_id": "p2"}, {"agent_id": "p1"}]}})
    assert [path for path, _, _ in differences(ours, theirs)] == [
        ".dependencies_resolved.use[0].agent_id",
        ".dependencies_resolved.use[1].agent_id",
    ]


def test_decoder_details_are_trimmed_but_other_errors_are_not() -> None:
    go = normalise({"error": "Invalid JSON payload: invalid character 'b' looking for beginning"})
    ours = normalise({"error": "Invalid JSON payload: Expecting property name: line 1 column 2"})
    assert go == ours
    assert normalise({"error": "agent_id is required"}) == {"error": "agent_id is required"}


def test_types_differ_even_when_values_compare_equal() -> None:
    assert list(differences({"n": 1}, {"n": True})) == [(".n", 1, True)]
    assert list(differences({"n": 1}, {"n": 1.0})) == [(".n", 1, 1.0)]


def test_answer_differences_cover_status_headers_and_body() -> None:
    ours = Answer(status=404, headers={"content-type": "application/json"}, body={"error": "x"})
    theirs = Answer(status=404, headers={"content-type": "text/plain"}, body="404 page not found")
    assert [path for path, _, _ in answer_differences(ours, theirs)] == ["headers.content-type", "body."]
