"""Prometheus metrics into pandas: scrape once into a tidy frame, sample over time, plot."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families

from labkit.errors import BadParameter, LabError, RegistryError, RegistryUnavailable
from labkit.progress import progress_bar
from labkit.registry_client import normalise_url

BASE_COLUMNS = ["name", "labels", "value", "timestamp"]


def metrics_url(url: str) -> str:
    """The /metrics URL for a base URL (a URL already ending in /metrics is kept)."""
    base = normalise_url(url)
    return base if base.endswith("/metrics") else base + "/metrics"


def parse_metrics(text: str, timestamp: pd.Timestamp | None = None) -> pd.DataFrame:
    """Prometheus text exposition as a tidy frame: name, labels (dict), value, timestamp, + label columns."""
    stamp = timestamp if timestamp is not None else pd.Timestamp.now(tz="UTC")
    rows: list[dict[str, Any]] = []
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                rows.append(
                    {
                        "name": sample.name,
                        "labels": dict(sample.labels),
                        "value": float(sample.value),
                        "timestamp": stamp,
                    }
                )
    except ValueError as exc:
        raise LabError(f"the metrics are not valid Prometheus text: {exc}") from None
    frame = pd.DataFrame(rows, columns=BASE_COLUMNS)
    label_names = sorted({key for labels in frame["labels"] for key in labels})
    for label in label_names:
        if label not in BASE_COLUMNS:
            frame[label] = [labels.get(label) for labels in frame["labels"]]
    return frame


def scrape_metrics(url: str, timeout: float = 10.0) -> pd.DataFrame:
    """GET url's /metrics once and return the tidy frame (see parse_metrics)."""
    target = metrics_url(url)
    try:
        response = httpx.get(target, timeout=timeout)
    except httpx.HTTPError as exc:
        raise RegistryUnavailable(f"no metrics from {target}: {type(exc).__name__}: {exc}") from None
    if not response.is_success:
        raise RegistryError("GET", target, response)
    return parse_metrics(response.text)


def sample_metrics(
    url: str, every: float = 1.0, duration: float = 10.0, progress: bool = True
) -> pd.DataFrame:
    """Scrape every `every` seconds for `duration` seconds; one tidy frame with a timestamp per scrape."""
    for name, value in (("every", every), ("duration", duration)):
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise BadParameter(f"{name} must be a positive number of seconds, not {value!r}")
    scrapes = max(1, int(duration / every) + 1)
    frames = []
    start = time.monotonic()
    for index in progress_bar(
        range(scrapes), desc=f"sampling {metrics_url(url)}", disable=not progress, leave=False
    ):
        frames.append(scrape_metrics(url))
        next_at = start + (index + 1) * every
        if index + 1 < scrapes:
            time.sleep(max(0.0, next_at - time.monotonic()))
    return pd.concat(frames, ignore_index=True)


def select_metric(df: pd.DataFrame, name: str, **labels: str) -> pd.DataFrame:
    """The rows of one metric, optionally only those with the given label values."""
    rows = df[df["name"] == name]
    for key, value in labels.items():
        rows = rows[[lbl.get(key) == value for lbl in rows["labels"]]]
    return rows


def plot_metrics(
    df: pd.DataFrame,
    name: str,
    *,
    by: str | None = None,
    rate: bool = False,
    ax: Any = None,
    **labels: str,
) -> Any:
    """Plot one metric over time (one line per label set, or per value of label ``by``); return the Axes.

    rate=True plots the per-second increase (for counters).
    """
    import matplotlib.pyplot as plt

    rows = select_metric(df, name, **labels)
    if rows.empty:
        known = ", ".join(sorted(df["name"].unique())[:8])
        raise BadParameter(f"no samples of metric {name!r} (some that exist: {known or 'none'})")
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.5))
    keys = (
        rows[by].astype(str)
        if by
        else rows["labels"].map(lambda d: ",".join(f"{k}={v}" for k, v in sorted(d.items())))
    )
    series = rows.assign(series=keys.values).groupby(["timestamp", "series"])["value"].sum().unstack("series")
    if rate:
        seconds = series.index.to_series().diff().dt.total_seconds()
        series = series.diff().div(seconds, axis=0).iloc[1:]
    series.plot(ax=ax, marker="o" if len(series) < 30 else None)
    ax.set_title(f"{name}{' (per second)' if rate else ''}")
    ax.set_xlabel("time")
    ax.set_ylabel("rate" if rate else "value")
    if len(series.columns) > 8 or (len(series.columns) == 1 and not series.columns[0]):
        legend = ax.get_legend()
        if legend is not None:
            legend.remove()
    return ax
