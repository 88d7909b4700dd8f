"""Named PromQL range queries over one time window, answered by a live Prometheus or by a saved data set.

A data set keeps the Prometheus HTTP API's own answers (the ``data`` of ``/api/v1/query_range``) with
the queries and the window they cover, so an analysis run offline reads exactly what a live run read,
through the same code: ``frames(source, window)`` with either source.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from labkit.errors import BadParameter, LabError
from labkit.prometheus import NoData, result_frame

FORMAT = "labkit-prometheus-range-queries/1"
SCRAPE_SECONDS = 5  # the scrape_interval of manifests/monitoring/prometheus.yml

# What lesson 06 plots: per route, per pod and per status, over windows of 30 s (six 5-s scrapes).
LOAD_QUERIES: Mapping[str, str] = {
    "requests_per_route": 'sum by (route) (rate(mcp_registry_requests_total{job="mcp-registry"}[30s]))',
    "requests_per_pod": 'sum by (pod) (rate(mcp_registry_requests_total{job="mcp-registry"}[30s]))',
    "p50_seconds": (
        "histogram_quantile(0.5, sum by (route, le) "
        '(rate(mcp_registry_request_duration_seconds_bucket{job="mcp-registry"}[30s])))'
    ),
    "p99_seconds": (
        "histogram_quantile(0.99, sum by (route, le) "
        '(rate(mcp_registry_request_duration_seconds_bucket{job="mcp-registry"}[30s])))'
    ),
    "agents_by_status": 'sum by (status) (mcp_registry_agents{job="mcp-registry"})',
}

# Across a failover: each pod's leader flag, how many lead, and the no-leader alert's state (ALERTS).
LEADER_QUERIES: Mapping[str, str] = {
    "leader_per_pod": 'max by (pod) (mcp_registry_leader{job="mcp-registry"})',
    "leaders": 'sum(mcp_registry_leader{job="mcp-registry"})',
    "no_leader_alert": 'max by (alertstate) (ALERTS{alertname="McpRegistryNoLeader"})',
}


@dataclass(frozen=True)
class QueryWindow:
    """From ``start`` to ``end`` (epoch seconds) every ``step`` seconds."""

    start: float
    end: float
    step: float = 5.0

    def __post_init__(self) -> None:
        for name in ("start", "end", "step"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise BadParameter(f"{name} must be a number of seconds, not {value!r}")
        if self.end < self.start:
            raise BadParameter(f"the window ends ({self.end}) before it starts ({self.start})")
        if self.step <= 0:
            raise BadParameter(f"step must be positive, not {self.step!r}")

    @classmethod
    def around(cls, started: float, ended: float, margin: float = 30.0, step: float = 5.0) -> QueryWindow:
        """The window of something that ran from ``started`` to ``ended``, with ``margin`` either side."""
        return cls(started - margin, ended + margin, step)


class RangeSource(Protocol):
    """Anything that answers range queries as the API's ``data``: ``Prometheus`` or ``SavedQueries``."""

    def range_data(self, expr: str, start: float, end: float, step: float) -> Any: ...


def frames(
    source: RangeSource, window: QueryWindow, queries: Mapping[str, str] = LOAD_QUERIES
) -> dict[str, pd.DataFrame]:
    """Each named query over the window as a tidy frame (see ``labkit.prometheus``); an empty one warns
    ``NoData`` with its name and keeps the message in ``frame.attrs["no_data"]``."""
    answers = {}
    for name, expr in queries.items():
        data = source.range_data(expr, window.start, window.end, window.step)
        answers[name] = frame = result_frame(data["resultType"], data["result"])
        if frame.empty:
            message = f"{name}: no series matched {expr!r} over {window}"
            frame.attrs["no_data"] = message
            warnings.warn(message, NoData, stacklevel=2)
    return answers


def save_queries(
    source: RangeSource,
    window: QueryWindow,
    path: Path,
    queries: Mapping[str, str] = LOAD_QUERIES,
    about: Mapping[str, Any] | None = None,
) -> Path:
    """Ask each query over the window and write the answers, as Prometheus sent them, to ``path``."""
    answers = [
        {"name": name, "expr": expr, "data": source.range_data(expr, window.start, window.end, window.step)}
        for name, expr in queries.items()
    ]
    document = {
        "format": FORMAT,
        "saved_at": time.time(),
        "window": asdict(window),
        "about": dict(about or {}),
        "queries": answers,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1) + "\n")
    return path


class SavedQueries:
    """A saved data set as a range source: the recorded answers of its queries over its window."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            document = json.loads(self.path.read_text())
        except FileNotFoundError:
            raise LabError(f"no saved data set at {self.path}") from None
        except json.JSONDecodeError as exc:
            raise LabError(f"{self.path} is not a saved data set: invalid JSON ({exc})") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            found = document.get("format") if isinstance(document, dict) else type(document).__name__
            raise LabError(f"{self.path} is not a saved data set of format {FORMAT!r} (found {found!r})")
        self.window = QueryWindow(**document["window"])
        self.about: dict[str, Any] = document.get("about", {})
        self.answers: dict[str, Any] = {entry["expr"]: entry["data"] for entry in document["queries"]}
        self.queries: dict[str, str] = {entry["name"]: entry["expr"] for entry in document["queries"]}

    def __repr__(self) -> str:
        return f"SavedQueries({str(self.path)!r}: {len(self.answers)} queries)"

    def range_data(self, expr: str, start: float, end: float, step: float) -> Any:
        """The recorded answer; only the recorded queries over the recorded window are there."""
        if (start, end, step) != (self.window.start, self.window.end, self.window.step):
            raise LabError(
                f"{self.path.name} holds the window {self.window}, not ({start}, {end}, {step}): "
                "use the data set's own window (saved.window)"
            )
        try:
            return self.answers[expr]
        except KeyError:
            names = ", ".join(self.queries)
            raise LabError(f"{self.path.name} did not record the query {expr!r}; it holds: {names}") from None


def over_load_queries(load_seconds: float) -> dict[str, str]:
    """What the registry saw of the load itself, per route: its request counter, and p50 and p99.

    The counter is raw, so ``count_between`` subtracts two of its samples exactly (``increase`` would
    extrapolate to its range's edges). The quantiles use ``increase`` over the load's length plus one
    scrape interval either side: its sample one scrape after the load covers the whole load, and the
    extrapolation scales every bucket alike, which leaves a quantile as it is.
    """
    if isinstance(load_seconds, bool) or not isinstance(load_seconds, int | float) or not load_seconds > 0:
        raise BadParameter(f"load_seconds must be a positive number of seconds, not {load_seconds!r}")
    span = f"[{math.ceil(load_seconds) + 2 * SCRAPE_SECONDS}s]"
    buckets = f'increase(mcp_registry_request_duration_seconds_bucket{{job="mcp-registry"}}{span})'
    return {
        "post_requests_by_route_total": (
            'sum by (route) (mcp_registry_requests_total{job="mcp-registry", method="POST"})'
        ),
        "server_p50_over_load": f"histogram_quantile(0.5, sum by (route, le) ({buckets}))",
        "server_p99_over_load": f"histogram_quantile(0.99, sum by (route, le) ({buckets}))",
    }


def count_between(counter: pd.DataFrame, before: float, after: float) -> pd.Series:
    """Per series of a raw counter's range answer, its rise from the last sample at or before ``before``
    to the first at or after ``after`` (epoch seconds): exact, unlike ``increase``."""
    labels = [column for column in counter.columns if column not in ("timestamp", "value")]
    if counter.empty or not labels:
        return pd.Series(dtype=float)
    start = pd.Timestamp(before, unit="s", tz="UTC")
    first = counter[counter["timestamp"] <= start].sort_values("timestamp").groupby(labels)["value"].last()
    last = sample_after(counter, after).set_index(labels)["value"]
    return last.sub(first, fill_value=0.0).rename("count")


def sample_after(frame: pd.DataFrame, moment: float) -> pd.DataFrame:
    """Per series, the first sample at or after ``moment`` (epoch seconds): a range answer read once."""
    if frame.empty:
        return frame
    at = pd.Timestamp(moment, unit="s", tz="UTC")
    later = frame[frame["timestamp"] >= at]
    labels = [column for column in frame.columns if column not in ("timestamp", "value")]
    if not labels:
        return later.head(1).reset_index(drop=True)
    return later.sort_values("timestamp").groupby(labels, as_index=False).first()


def leaderless_seconds(leaders: pd.DataFrame, step: float) -> float:
    """How long the ``leaders`` series (LEADER_QUERIES) stood at 0, to a resolution of ``step`` seconds."""
    if leaders.empty:
        return 0.0
    return float((leaders["value"] == 0).sum() * step)
