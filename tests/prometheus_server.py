"""A real Prometheus server for tests: Debian's binary, a temp config, a loopback port, stopped by pid."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import yaml

from tests.processes import RunningProcess, free_port, run_server
from tests.prometheus_tools import require_tool

STARTUP_TIMEOUT = 60.0


def scrape_config(job: str, targets: list[str], interval: str) -> dict[str, object]:
    """One static scrape job (the cluster's Prometheus discovers pods instead; the rules see the same job)."""
    return {"job_name": job, "scrape_interval": interval, "static_configs": [{"targets": targets}]}


@contextlib.contextmanager
def run_prometheus(
    workdir: Path,
    jobs: dict[str, list[str]],
    *,
    interval: str = "1s",
    rule_files: list[Path] | None = None,
) -> Iterator[RunningProcess]:
    """Run ``prometheus`` on 127.0.0.1 scraping ``jobs`` (job name -> host:port targets) for the block."""
    binary = require_tool("prometheus")
    workdir.mkdir(parents=True, exist_ok=True)
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [scrape_config(job, targets, interval) for job, targets in jobs.items()],
        "rule_files": [str(path) for path in rule_files or []],
    }
    config_path = workdir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config))
    port = free_port()
    log_path = workdir / "prometheus.log"
    command = [
        binary,
        f"--config.file={config_path}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=1h",
    ]
    with run_server(
        command, workdir, dict(os.environ), log_path, port, STARTUP_TIMEOUT, "/-/ready"
    ) as running:
        yield running
