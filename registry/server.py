"""Serve the API and the metrics app with Hypercorn in one event loop, and shut down gracefully."""

from __future__ import annotations

import asyncio
import logging
import signal
import time

from hypercorn.asyncio import serve
from hypercorn.config import Config

from registry.app import create_app, create_metrics_app
from registry.collector import tune_for_serving
from registry.config import Settings
from registry.durations import format_duration
from registry.fastpath import HeartbeatFastPath
from registry.runtime import RegistryRuntime

log = logging.getLogger("registry")


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class RegistryConfig(Config):
    """Hypercorn's configuration, with its Date and Server headers built once a second, not per answer.

    HTTP dates have a resolution of one second; formatting one for every HEAD was a few per cent of the
    registry's time at 10,000 agents.
    """

    def __init__(self) -> None:
        super().__init__()
        self._headers_by_protocol: dict[str, tuple[int, list[tuple[bytes, bytes]]]] = {}

    def response_headers(self, protocol: str) -> list[tuple[bytes, bytes]]:
        second = int(time.time())
        cached = self._headers_by_protocol.get(protocol)
        if cached is None or cached[0] != second:
            cached = (second, super().response_headers(protocol))
            self._headers_by_protocol[protocol] = cached
        return list(cached[1])


def hypercorn_config(host: str, port: int, grace: float) -> Config:
    config = RegistryConfig()
    config.bind = [_bind(host, port)]
    config.graceful_timeout = grace
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.keep_alive_timeout = 75
    config.backlog = 1024
    return config


async def run(settings: Settings) -> None:
    """Start the runtime, serve both ports until SIGTERM/SIGINT, then stop accepting, drain and flush."""
    runtime = RegistryRuntime(settings)
    await runtime.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    releasing: set[asyncio.Task[None]] = set()

    def on_stop_signal() -> None:
        """Stop serving; hand leadership over at once, before the drain, so a failover need not wait."""
        stop.set()
        runtime.job_service.close_waits()  # long-polls answer now instead of holding the drain
        task = loop.create_task(runtime.leadership.stop())
        releasing.add(task)
        task.add_done_callback(releasing.discard)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_stop_signal)
    try:
        servers = [
            serve(
                HeartbeatFastPath(create_app(runtime), runtime),
                hypercorn_config(settings.host, settings.port, settings.shutdown_grace),
                shutdown_trigger=stop.wait,
            )
        ]
        if settings.metrics_port != settings.port:
            servers.append(
                serve(
                    create_metrics_app(runtime),
                    hypercorn_config(settings.host, settings.metrics_port, settings.shutdown_grace),
                    shutdown_trigger=stop.wait,
                )
            )
        tune_for_serving()
        log.info(
            "registry serving",
            extra={
                "api": _bind(settings.host, settings.port),
                "metrics": _bind(settings.host, settings.metrics_port),
                "instance_id": settings.instance_id,
                "database": settings.database_type,
                "health_check_interval": format_duration(settings.health_check_interval),
                "agent_timeout": format_duration(settings.agent_timeout),
                "agent_retention": format_duration(settings.agent_retention),
                "leader_election": settings.leader_election.enabled,
                "admin_enabled": settings.auth_token is not None,
                "backups_enabled": settings.encryption_key is not None,
                "event_loop": type(loop).__module__,
            },
        )
        results = await asyncio.gather(*servers, return_exceptions=True)
        stop.set()
        for result in results:
            if isinstance(result, BaseException):
                raise result
        log.info("stopped accepting; in-flight requests finished")
    finally:
        await runtime.stop()
        log.info("registry stopped: batched writes flushed")
