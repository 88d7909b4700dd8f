"""Version constraints with Masterminds/semver v3 semantics."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.semver_constraints import Version, parse_constraint, satisfies

CASES = [
    ("1.5.0", "<2.0.0", True),
    ("2.1.0", "<2.0.0", False),
    ("1.0.0", "^1", True),
    ("2.0.0", "^1", False),
    ("1.2.9", "~1.2", True),
    ("1.3.0", "~1.2", False),
    ("1.2.3", "1.2.3", True),
    ("1.2.4", "1.2.3", False),
    ("1.2.4", "1.2", True),
    ("1.3.0", "1.2", False),
    ("3.0.0", ">=1.0 <2 || >=3", True),
    ("2.5.0", ">=1.0 <2 || >=3", False),
    ("1.2.0", "1.0 - 1.2", True),
    ("1.3.0", "1.0 - 1.2", False),
    ("1.0.0-beta", ">=0.9", False),
    ("1.0.0-beta", ">=1.0.0-alpha", True),
    ("0.2.5", "^0.2.3", True),
    ("0.3.0", "^0.2.3", False),
    ("0.0.4", "^0.0.3", False),
    ("", ">=1", False),
    ("abc", "abc", True),
    ("abc", "abd", False),
    ("1.2.0", ">1.1", True),
    ("1.1.5", ">1.1", False),
    ("1.2.0", "1.2.x", True),
    ("5.0.0", "*", True),
    ("1.2.0", ">=1.0.0, <2.0.0", True),
    ("1.2.5", "!=1.2", False),
    ("1.3.0", "!=1.2", True),
    ("1.2.0", "<=1.2", True),
    ("1.2.9", "<=1.2", True),
    ("1.3.0", "<=1.2", False),
    ("v1.4.0", "~> 1.4", True),
    ("1.4", ">= 1.4.0", True),
    ("2.0.0", "", True),
    ("2.0.0", "=2.0.0", True),
]


@pytest.mark.parametrize(("version", "constraint", "expected"), CASES)
def test_constraints(version: str, constraint: str, expected: bool) -> None:
    assert satisfies(version, constraint) is expected


def test_precedence_of_prereleases() -> None:
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.1.0",
        "2.0.0",
    ]
    parsed = [Version.parse(v) for v in ordered]
    assert sorted(reversed(parsed)) == parsed


versions = st.builds(Version, st.integers(0, 20), st.integers(0, 20), st.integers(0, 20))


@given(versions, versions)
def test_range_membership_matches_comparisons(low: Version, candidate: Version) -> None:
    high = Version(low.major + 1, 0, 0)
    assert satisfies(str(candidate), f">={low} <{high}") is (low <= candidate < high)
    assert satisfies(str(candidate), f"^{low}") is (low <= candidate < high) or low.major == 0


def test_bad_constraints_are_value_errors() -> None:
    with pytest.raises(ValueError, match="without a version"):
        parse_constraint(">= ")
