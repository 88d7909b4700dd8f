"""Go-style and plain-seconds durations."""

from __future__ import annotations

import pytest

from registry.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("500ms", 0.5),
        ("1m30s", 90),
        ("1h", 3600),
        ("2h45m", 9900),
        ("30", 30),
        ("2.5", 2.5),
        ("1.5s", 1.5),
        ("0", 0),
        ("100us", 1e-4),
        ("250µs", 2.5e-4),
    ],
)
def test_parses(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "30x", "-5s", "s", "1m-30s", "1 m", "thirty"])
def test_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(("seconds", "text"), [(90, "1m30s"), (0.5, "500ms"), (3600, "1h"), (30, "30s")])
def test_formats(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)
