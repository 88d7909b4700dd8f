"""The histograms' bucket ladders."""

from __future__ import annotations

from registry.metrics import one_two_five


def test_bucket_ladders_step_one_two_and_a_half_five_within_their_bounds() -> None:
    assert one_two_five(0.0005, 0.01) == (0.0005, 0.001, 0.0025, 0.005, 0.01)
    assert one_two_five(0.0003, 0.004) == (0.0005, 0.001, 0.0025)
    assert str(one_two_five(0.000025, 0.000025)[0]) == "2.5e-05"  # no float noise in a bucket's le label
