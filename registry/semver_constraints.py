"""Semantic versions and version constraints with the semantics of Go's Masterminds/semver v3.

Constraints: ``>=1.0.0``, ``<2.0.0``, ``^1``, ``~1.2``, ``1.2.x``, ``*``, hyphen ranges ``1.2 - 1.4.5``,
AND by comma or space, OR by ``||``; a bare full version is an exact match and a bare partial one
(``1.2``) a tilde range. A version with a pre-release only satisfies a constraint group that itself names
a pre-release. Anything unparsable falls back to string equality, as the real registry does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache, total_ordering

_VERSION = re.compile(
    r"^v?(?P<major>0|[1-9]\d*)(?:\.(?P<minor>0|[1-9]\d*))?(?:\.(?P<patch>0|[1-9]\d*))?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+(?P<meta>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)
_CONSTRAINT_VERSION = re.compile(
    r"^v?(?P<major>\d+|[xX*])(?:\.(?P<minor>\d+|[xX*]))?(?:\.(?P<patch>\d+|[xX*]))?"
    r"(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$"
)
_TERM = re.compile(r"^(?P<op>!=|>=|=>|<=|=<|~>|>|<|=|~|\^)?\s*(?P<ver>\S+)$")
_WILDCARD = {"x", "X", "*"}


@total_ordering
@dataclass(frozen=True)
class Version:
    """A semantic version; partial inputs (``1.2``, ``v1``) are coerced like Masterminds' NewVersion."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse text or raise ValueError."""
        match = _VERSION.match(text.strip())
        if not match:
            raise ValueError(f"not a semantic version: {text!r}")
        pre = match["pre"]
        return cls(
            int(match["major"]),
            int(match["minor"] or 0),
            int(match["patch"] or 0),
            tuple(pre.split(".")) if pre else (),
        )

    @cached_property
    def _key(self) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
        # Computed once per Version: resolution compares the same parsed versions again and again.
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key < other._key

    def __str__(self) -> str:
        pre = "-" + ".".join(self.prerelease) if self.prerelease else ""
        return f"{self.major}.{self.minor}.{self.patch}{pre}"


@lru_cache(maxsize=4096)
def parse_version(text: str | None) -> Version | None:
    """A Version, or None when text is empty or not a semantic version (memoised: Versions are frozen)."""
    if not text:
        return None
    try:
        return Version.parse(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class _Bound:
    """One comparison: version op bound."""

    op: str  # one of ">=", ">", "<", "<=", "==", "!="
    version: Version

    def allows(self, version: Version) -> bool:
        ops = {
            ">=": version >= self.version,
            ">": version > self.version,
            "<": version < self.version,
            "<=": version <= self.version,
            "==": version == self.version,
            "!=": version != self.version,
        }
        return ops[self.op]


def _partial(text: str) -> tuple[Version, int, tuple[str, ...]]:
    """Parse a constraint version; return it (wildcards as 0) and how many leading parts were given."""
    match = _CONSTRAINT_VERSION.match(text)
    if not match:
        raise ValueError(f"not a version in a constraint: {text!r}")
    given = 0
    numbers = []
    for part in (match["major"], match["minor"], match["patch"]):
        if part is None or part in _WILDCARD:
            break
        numbers.append(int(part))
        given += 1
    numbers += [0] * (3 - len(numbers))
    pre = tuple(match["pre"].split(".")) if match["pre"] and given == 3 else ()
    return Version(numbers[0], numbers[1], numbers[2], pre), given, pre


def _next(version: Version, given: int) -> Version:
    """The first version past the range a partial version names (1.2 → 1.3.0, 1 → 2.0.0)."""
    if given <= 1:
        return Version(version.major + 1, 0, 0)
    if given == 2:
        return Version(version.major, version.minor + 1, 0)
    return Version(version.major, version.minor, version.patch + 1)


def _term_bounds(op: str, text: str) -> list[_Bound]:
    version, given, _ = _partial(text)
    if given == 0:  # "*", "x", ">=*": everything
        return [] if op in ("", "=", ">=", "<=", "~", "^", "~>") else [_Bound("<", Version(0, 0, 0))]
    if op in ("", "="):
        if given == 3:
            return [_Bound("==", version)]
        return [_Bound(">=", version), _Bound("<", _next(version, given))]
    if op == "!=":
        if given == 3:
            return [_Bound("!=", version)]
        return [_Bound("!=", version)]  # refined by _NotRange below
    if op in ("~", "~>"):
        upper = _next(version, 2 if given >= 2 else 1)
        return [_Bound(">=", version), _Bound("<", upper)]
    if op == "^":
        if version.major > 0 or given == 1:
            upper = Version(version.major + 1, 0, 0)
        elif version.minor > 0 or given == 2:
            upper = Version(0, version.minor + 1, 0)
        else:
            upper = Version(0, 0, version.patch + 1)
        return [_Bound(">=", version), _Bound("<", upper)]
    if op in (">=", "=>"):
        return [_Bound(">=", version)]
    if op == ">":
        return [_Bound(">", version)] if given == 3 else [_Bound(">=", _next(version, given))]
    if op == "<":
        return [_Bound("<", version)]
    if op in ("<=", "=<"):
        return [_Bound("<=", version)] if given == 3 else [_Bound("<", _next(version, given))]
    raise ValueError(f"unknown operator {op!r}")


@dataclass(frozen=True)
class _Group:
    """An AND of bounds, plus excluded partial ranges (``!=1.2``) and whether it names a pre-release."""

    bounds: tuple[_Bound, ...]
    excluded: tuple[tuple[Version, Version], ...]
    names_prerelease: bool

    def allows(self, version: Version) -> bool:
        if version.prerelease and not self.names_prerelease:
            return False
        if any(low <= version < high for low, high in self.excluded):
            return False
        return all(bound.allows(version) for bound in self.bounds)


def _split_terms(group: str) -> list[str]:
    """Split an AND group on commas/spaces, keeping an operator attached to its version."""
    tokens = [t for t in re.split(r"[\s,]+", group.strip()) if t]
    terms: list[str] = []
    pending = ""
    for token in tokens:
        if re.fullmatch(r"!=|>=|=>|<=|=<|~>|>|<|=|~|\^", token):
            pending += token
            continue
        terms.append(pending + token)
        pending = ""
    if pending:
        raise ValueError(f"operator {pending!r} without a version")
    return terms


def _parse_group(group: str) -> _Group:
    hyphen = re.fullmatch(r"\s*(\S+)\s+-\s+(\S+)\s*", group)
    bounds: list[_Bound] = []
    excluded: list[tuple[Version, Version]] = []
    names_pre = False
    if hyphen:
        low, _, low_pre = _partial(hyphen[1])
        high, high_given, high_pre = _partial(hyphen[2])
        bounds.append(_Bound(">=", low))
        bounds.append(_Bound("<=", high) if high_given == 3 else _Bound("<", _next(high, high_given)))
        names_pre = bool(low_pre or high_pre)
        return _Group(tuple(bounds), (), names_pre)
    terms = _split_terms(group)
    if not terms:
        raise ValueError("empty constraint group")
    for term in terms:
        match = _TERM.match(term)
        if not match:
            raise ValueError(f"not a constraint: {term!r}")
        op, text = match["op"] or "", match["ver"]
        version, given, pre = _partial(text)
        names_pre = names_pre or bool(pre)
        if op == "!=" and 0 < given < 3:
            excluded.append((version, _next(version, given)))
            continue
        bounds.extend(_term_bounds(op, text))
    return _Group(tuple(bounds), tuple(excluded), names_pre)


@dataclass(frozen=True)
class Constraint:
    """A parsed constraint: an OR of AND groups."""

    text: str
    groups: tuple[_Group, ...]

    def allows(self, version: Version) -> bool:
        """Whether version satisfies any group."""
        return any(group.allows(version) for group in self.groups)


@lru_cache(maxsize=1024)
def parse_constraint(text: str) -> Constraint:
    """Parse a constraint or raise ValueError."""
    groups = tuple(_parse_group(part) for part in text.split("||"))
    return Constraint(text, groups)


@lru_cache(maxsize=16384)
def satisfies(version: str | None, constraint: str | None) -> bool:
    """Whether a provider version meets a dependency's constraint, the real registry's way.

    An empty constraint matches everything; an empty version fails any constraint; when either side does
    not parse, the two strings must be equal.
    """
    if not constraint or not constraint.strip():
        return True
    if not version:
        return False
    parsed_version = parse_version(version)
    try:
        parsed_constraint = parse_constraint(constraint.strip())
    except ValueError:
        return version.strip() == constraint.strip()
    if parsed_version is None:
        return version.strip() == constraint.strip()
    return parsed_constraint.allows(parsed_version)
