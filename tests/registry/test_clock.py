"""RFC 3339 text for the wire: exactly what ``datetime`` writes, second texts cached or not."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from registry import clock


def datetime_text(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="microseconds")[:-6] + "Z"


@given(st.floats(min_value=-1e9, max_value=4e9, allow_nan=False))
def test_any_time_reads_as_datetime_writes_it(seconds: float) -> None:
    assert clock.rfc3339(seconds) == datetime_text(seconds)


def test_microseconds_round_half_to_even_and_carry_into_the_next_second() -> None:
    for seconds in (1_700_000_000.9999996, 1_700_000_000.0000005, 1_700_000_000.0000015, 0.0, 59.9999999):
        assert clock.rfc3339(seconds) == datetime_text(seconds)
    assert clock.rfc3339(1_700_000_000.9999996) == "2023-11-14T22:13:21.000000Z"


def test_a_full_cache_starts_again_and_still_answers_right() -> None:
    for offset in range(clock._SECOND_TEXT_CACHE + 10):
        seconds = 1_800_000_000 + offset + 0.25
        assert clock.rfc3339(seconds) == datetime_text(seconds)
    assert len(clock._second_texts) <= clock._SECOND_TEXT_CACHE


def test_without_an_argument_it_is_now() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    stamped = datetime.fromisoformat(clock.rfc3339())
    assert before <= stamped <= datetime.now(UTC)
