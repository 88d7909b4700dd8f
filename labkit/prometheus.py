"""A Prometheus server's HTTP API into tidy pandas frames: instant and range queries, scrape targets.

Every query answers a frame with a column per label (the metric name in ``name``), ``timestamp`` (UTC)
and ``value``, one row per sample, so a range query is ready for ``pivot`` or ``groupby``. A query that
matches nothing answers an empty frame of the same shape, warns ``NoData`` and keeps the reason in
``frame.attrs["no_data"]``: an analysis that filters later does not fail on a KeyError far from the cause.
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeAlias

import httpx
import pandas as pd

from labkit.errors import BadParameter, LabError, require_type
from labkit.registry_client import normalise_url
from labkit.waiting import check_timeout, poll

TimeLike: TypeAlias = datetime | pd.Timestamp | float | int | str
StepLike: TypeAlias = float | int | str | timedelta | pd.Timedelta
VALUE_COLUMNS = ["timestamp", "value"]
TARGET_COLUMNS = ["job", "instance", "health", "last_error", "last_scrape", "scrape_url", "labels"]
_NAME = re.compile(r"(?<![\w.:])[a-zA-Z_:][a-zA-Z0-9_:]*")
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_CLAUSES = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)|\{[^}]*\}|\[[^]]*\]")
_KEYWORDS = frozenset(
    {
        "offset",
        "bool",
        "and",
        "or",
        "unless",
        "atan2",
        "inf",
        "nan",
        "Inf",
        "NaN",
        "group_left",
        "group_right",
    }
)


class PrometheusError(LabError):
    """Prometheus answered with an error; for a malformed query, its own text (``error_type``, ``error``)."""

    def __init__(self, message: str, error_type: str = "", error: str = "") -> None:
        super().__init__(message)
        self.error_type = error_type
        self.error = error


class PrometheusUnavailable(LabError):
    """Nothing answered at the Prometheus URL."""


class NoData(UserWarning):
    """A query matched no series (a metric that does not exist, or not scraped yet)."""


def _seconds(name: str, value: object) -> float:
    """A time as epoch seconds, from a datetime, a Timestamp, epoch seconds or an ISO text."""
    if isinstance(value, bool):
        raise BadParameter(
            f"{name} must be a time (datetime, Timestamp, epoch seconds, ISO text), not a bool"
        )
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime | str):
        try:
            stamp = pd.Timestamp(value)
        except ValueError as exc:
            raise BadParameter(f"{name} is not a time: {value!r} ({exc})") from None
        if stamp.tzinfo is None:
            stamp = stamp.tz_localize("UTC")
        return float(stamp.timestamp())
    raise BadParameter(
        f"{name} must be a time (datetime, Timestamp, epoch seconds, ISO text), not {type(value).__name__}"
    )


def _step_seconds(step: object) -> float:
    """A positive step in seconds, from a number, a timedelta or a text pandas reads ("15s", "1min")."""
    if isinstance(step, bool):
        raise BadParameter("step must be a positive duration, not a bool")
    if isinstance(step, int | float):
        seconds = float(step)
    elif isinstance(step, timedelta | str):
        try:
            seconds = pd.Timedelta(step).total_seconds()
        except ValueError as exc:
            raise BadParameter(f"step is not a duration: {step!r} ({exc})") from None
    else:
        raise BadParameter(f"step must be a positive duration, not {type(step).__name__} ({step!r})")
    if not seconds > 0:
        raise BadParameter(f"step must be a positive duration, not {step!r}")
    return seconds


def _value(text: Any) -> float:
    return float(text)  # Prometheus sends numbers as text, with "NaN", "+Inf" and "-Inf"


def _label_columns(labels: Mapping[str, str]) -> dict[str, str]:
    return {("name" if key == "__name__" else key): value for key, value in labels.items()}


def result_frame(result_type: str, result: Any) -> pd.DataFrame:
    """The ``data`` of a query answer as a tidy frame: a column per label, ``timestamp``, ``value``."""
    rows: list[dict[str, Any]] = []
    if result_type == "vector":
        for series in result:
            stamp, text = series["value"]
            rows.append({**_label_columns(series["metric"]), "timestamp": stamp, "value": _value(text)})
    elif result_type == "matrix":
        for series in result:
            series_labels = _label_columns(series["metric"])
            rows.extend(
                {**series_labels, "timestamp": s, "value": _value(v)} for s, v in series.get("values", [])
            )
    elif result_type in ("scalar", "string"):
        stamp, text = result
        rows.append({"timestamp": stamp, "value": _value(text) if result_type == "scalar" else text})
    else:
        raise PrometheusError(f"Prometheus answered a result of unknown type {result_type!r}")
    labels = sorted({key for row in rows for key in row} - set(VALUE_COLUMNS))
    frame = pd.DataFrame(rows, columns=[*labels, *VALUE_COLUMNS])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"].astype(float), unit="s", utc=True)
    if result_type != "string":
        frame["value"] = frame["value"].astype(float)
    return frame.sort_values([*labels, "timestamp"], ignore_index=True)


def _shared_prefix(first: str, second: str) -> int:
    length = 0
    for a, b in zip(first, second, strict=False):
        if a != b:
            break
        length += 1
    return length


def _when(moment: float) -> str:
    return pd.Timestamp(moment, unit="s", tz="UTC").isoformat(timespec="seconds")


def metric_names_in(expr: str) -> set[str]:
    """The words of a PromQL expression that may name metrics (not label values, functions or keywords)."""
    text = _CLAUSES.sub(" ", _STRINGS.sub(" ", expr))
    names = set()
    for match in _NAME.finditer(text):
        word, rest = match.group(), text[match.end() :].lstrip()
        if not rest.startswith("(") and word not in _KEYWORDS:  # a word before "(" is a function
            names.add(word)
    return names


class Prometheus:
    """A Prometheus server's HTTP API (``/api/v1``), answering tidy frames and one-line errors."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = normalise_url(url)
        self.timeout = check_timeout(timeout)

    def __repr__(self) -> str:
        return f"Prometheus({self.url!r})"

    # -- the API ---------------------------------------------------------------------------------------

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET an API path; its ``data``, or PrometheusError with Prometheus's own error text."""
        target = f"{self.url}{path}"
        try:
            response = httpx.get(target, params=dict(params or {}), timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise PrometheusUnavailable(
                f"cannot reach Prometheus at {self.url}: {type(exc).__name__}: {exc}"
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "status" not in body:
            raise PrometheusError(
                f"{target} answered HTTP {response.status_code} without a Prometheus API answer "
                f"(is {self.url} a Prometheus server?): {response.text[:200]!r}"
            )
        if body["status"] != "success":
            error_type, error = str(body.get("errorType", "")), str(body.get("error", ""))
            what = f"the query {params['query']!r}" if params and "query" in params else f"GET {path}"
            raise PrometheusError(f"Prometheus rejected {what}: {error_type}: {error}", error_type, error)
        for warning in body.get("warnings") or []:
            warnings.warn(f"Prometheus: {warning}", stacklevel=3)
        return body.get("data")

    def _answer(self, expr: str, data: Any, when: str) -> pd.DataFrame:
        frame = result_frame(data["resultType"], data["result"])
        if frame.empty:
            message = self._why_empty(expr, when)
            frame.attrs["no_data"] = message
            warnings.warn(message, NoData, stacklevel=3)
        return frame

    def _why_empty(self, expr: str, when: str) -> str:
        """Which metric of the expression Prometheus does not know, or that it knows them all."""
        try:
            known = set(self.metric_names())
        except LabError:
            known = set()
        unknown = sorted(metric_names_in(expr) - known) if known else []
        if unknown:
            alike = sorted(known, key=lambda name: (-_shared_prefix(name, unknown[0]), name))[:5]
            alike = [name for name in alike if _shared_prefix(name, unknown[0]) >= 4]
            hint = f" (names alike: {', '.join(alike)})" if alike else ""
            return f"no data for {expr!r} {when}: Prometheus has no metric named {', '.join(unknown)}{hint}"
        return f"no data for {expr!r} {when}: no series matched (its labels, or nothing scraped then)"

    def query(self, expr: str, at: TimeLike | None = None) -> pd.DataFrame:
        """An instant query (now, or ``at``): a row per series."""
        require_type("expr", expr, str)
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = _seconds("at", at)
        return self._answer(
            expr, self._get("/api/v1/query", params), "at " + ("now" if at is None else str(at))
        )

    def query_range(
        self,
        expr: str,
        start: TimeLike,
        end: TimeLike | None = None,
        step: StepLike = 15.0,
    ) -> pd.DataFrame:
        """A range query from ``start`` to ``end`` (default now) every ``step``: a row per sample."""
        require_type("expr", expr, str)
        first = _seconds("start", start)
        last = time.time() if end is None else _seconds("end", end)
        if last < first:
            raise BadParameter(f"end ({end!r}) is before start ({start!r})")
        seconds = _step_seconds(step)
        when = f"from {_when(first)} to {'now' if end is None else _when(last)} every {seconds:g}s"
        return self._answer(expr, self.range_data(expr, first, last, seconds), when)

    def range_data(self, expr: str, start: float, end: float, step: float) -> Any:
        """A range query's answer as the API sends it (its ``data``): what a saved data set keeps."""
        params = {"query": expr, "start": start, "end": end, "step": step}
        return self._get("/api/v1/query_range", params)

    def metric_names(self) -> list[str]:
        """Every metric name Prometheus holds series of."""
        return [str(name) for name in self._get("/api/v1/label/__name__/values")]

    def targets(self, job: str | None = None) -> pd.DataFrame:
        """The active scrape targets (optionally of one job): job, instance, health, last_error, ..."""
        data = self._get("/api/v1/targets", {"state": "active"})
        rows = [
            {
                "job": t.get("labels", {}).get("job", t.get("scrapePool", "")),
                "instance": t.get("labels", {}).get("instance", ""),
                "health": t.get("health", "unknown"),
                "last_error": t.get("lastError", ""),
                "last_scrape": pd.Timestamp(t["lastScrape"]) if t.get("lastScrape") else pd.NaT,
                "scrape_url": t.get("scrapeUrl", ""),
                "labels": dict(t.get("labels", {})),
            }
            for t in data.get("activeTargets", [])
        ]
        frame = pd.DataFrame(rows, columns=TARGET_COLUMNS)
        if job is not None:
            frame = frame[frame["job"] == job].reset_index(drop=True)
        return frame

    def wait_for_targets(
        self,
        job: str | None = None,
        count: int = 1,
        timeout: float = 60.0,
        *,
        progress: bool = True,
    ) -> pd.DataFrame:
        """Wait until at least ``count`` targets (of ``job``) are up; answer the targets.

        On timeout the error names each target that is not up and Prometheus's ``lastError`` for it.
        """
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise BadParameter(f"count must be a positive whole number of targets, not {count!r}")
        which = f"job {job!r}" if job is not None else "every job"

        def all_up(frame: pd.DataFrame) -> bool:
            up = int((frame["health"] == "up").sum())
            return up >= count and up == len(frame)

        what = f"{count} Prometheus target(s) of {which} up"
        return self.wait_until_targets(job, all_up, what, timeout, count=count, progress=progress)

    def wait_until_targets(
        self,
        job: str | None,
        done: Callable[[pd.DataFrame], bool],
        what: str,
        timeout: float = 60.0,
        *,
        count: int = 1,
        progress: bool = True,
    ) -> pd.DataFrame:
        """Poll the targets (of ``job``) until ``done(targets)``; answer them. The progress and a timeout's
        error describe the targets (``describe_targets``), an unreachable server says so."""
        timeout = check_timeout(timeout)
        seen: list[pd.DataFrame] = []

        def probe() -> tuple[bool, str]:
            try:
                frame = self.targets(job)
            except PrometheusUnavailable as exc:
                return False, str(exc)
            seen[:] = [frame]
            return done(frame), describe_targets(frame, count)

        poll(probe, what, timeout, progress=progress)
        return seen[0]


def describe_targets(frame: pd.DataFrame, count: int = 1) -> str:
    """One line: how many targets are up, and each one that is not with Prometheus's last error."""
    up = int((frame["health"] == "up").sum())
    if frame.empty:
        return f"no target discovered yet (want {count})"
    parts = [f"{up}/{len(frame)} up (want {count})"]
    for row in frame[frame["health"] != "up"].itertuples():
        if row.health == "unknown":
            parts.append(f"{row.job} {row.instance} not scraped yet")
        else:
            parts.append(f"{row.job} {row.instance} {row.health}: {row.last_error or 'no error given'}")
    return "; ".join(parts)
