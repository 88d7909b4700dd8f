"""Failover helpers without a cluster: the timeline's spans and pictures, finding and pausing a process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

from labkit.failover import (
    LeaseWatch,
    PodProcess,
    find_on_host,
    node_exec,
    plot_failover_times,
    plot_timeline,
    segments,
)

matplotlib.use("Agg")


def frame(rows: list[tuple[float, str, bool, bool]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["t", "pod", "ready", "leader"])


FAILOVER = frame(
    [
        (0.0, "r-0", True, True),
        (0.0, "r-1", False, False),
        (1.0, "r-0", False, False),  # deleted
        (1.0, "r-1", False, False),
        (2.0, "r-1", True, True),  # took over
        (2.0, "r-0", False, False),
        (3.0, "r-1", True, True),
        (3.0, "r-0", False, False),
    ]
)


def test_segments_are_the_spans_where_a_pod_was_ready_or_led() -> None:
    assert segments(FAILOVER, "leader") == {"r-0": [(0.0, 1.0)], "r-1": [(2.0, 1.0)]}
    assert segments(FAILOVER, "ready")["r-1"] == [(2.0, 1.0)]


def test_the_timeline_draws_one_row_per_pod_and_the_marks() -> None:
    figure = plot_timeline(FAILOVER, [(1.0, "delete r-0")])
    ax = figure.axes[0]
    assert [label.get_text() for label in ax.get_yticklabels()] == ["r-0", "r-1"]
    assert any(text.get_text().strip() == "delete r-0" for text in ax.texts)


def test_the_timings_plot_has_a_bar_per_failover_and_measure() -> None:
    table = pd.DataFrame(
        {"leader_s": [1.2, 9.0], "serving_s": [4.0, 12.0], "agents_back_s": [6.0, 15.0]},
        index=["graceful", "crash"],
    )
    figure = plot_failover_times(table)
    assert len(figure.axes[0].patches) == 6


@pytest.fixture
def fake_registry(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process that looks like a pod's registry: POD_NAME and POD_IP in its environment."""
    env = {**os.environ, "POD_NAME": "mcp-mesh-registry-7", "POD_IP": "127.77.0.7"}
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "registry"], env=env, cwd=tmp_path
    )
    yield process
    process.kill()
    process.wait()


def state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_the_pods_process_is_found_and_paused(fake_registry: subprocess.Popen[bytes]) -> None:
    assert find_on_host("mcp-mesh-registry-7", "127.77.0.7") == fake_registry.pid
    assert find_on_host("mcp-mesh-registry-7", "127.77.0.8") is None
    process = PodProcess(fake_registry.pid)
    process.signal(19)  # SIGSTOP
    deadline = time.monotonic() + 5
    while state(fake_registry.pid) != "T" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert state(fake_registry.pid) == "T"
    process.signal(18)  # SIGCONT
    deadline = time.monotonic() + 5
    while state(fake_registry.pid) == "T" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert state(fake_registry.pid) != "T"


def test_a_node_container_is_reached_through_docker_exec() -> None:
    assert node_exec("lab-control-plane", "kill -19 42") == [
        "docker",
        "exec",
        "lab-control-plane",
        "sh",
        "-c",
        "kill -19 42",
    ]


def test_the_watch_frame_has_a_row_per_pod_and_sample() -> None:
    watch = LeaseWatch(lab=None, lease_name="x")  # type: ignore[arg-type]
    watch.samples = [{"t": 0.0, "holder": "r-0", "ready": {"r-0": True, "r-1": False}}]
    assert watch.frame().to_dict("records") == [
        {"t": 0.0, "pod": "r-0", "ready": True, "leader": True},
        {"t": 0.0, "pod": "r-1", "ready": False, "leader": False},
    ]


class MetricsPods:
    """A stand-in Lab: each "pod" is a real loopback HTTP server; one of them starts listening late."""

    def __init__(self, flags: dict[str, float], late: str) -> None:
        import contextlib
        import http.server
        import socket
        import threading

        self.flags, self.late, self.tries = flags, late, 0
        self.ports: dict[str, int] = {}
        self.servers: list[http.server.HTTPServer] = []
        self._contextlib = contextlib
        for pod, value in flags.items():
            body = f"# TYPE mcp_registry_leader gauge\nmcp_registry_leader {value}\n".encode()

            class Handler(http.server.BaseHTTPRequestHandler):
                def do_GET(self, body: bytes = body) -> None:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

                def log_message(self, *_args: object) -> None:
                    pass

            if pod == late:  # a port nobody listens on yet
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", 0))
                    self.ports[pod] = probe.getsockname()[1]
                self._late_handler = Handler
                continue
            server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
            self.ports[pod] = server.server_address[1]
            self.servers.append(server)
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def pods(self, _selector: str) -> pd.DataFrame:
        return pd.DataFrame({"name": sorted(self.flags)})

    def port_forward(self, ref: str, _port: int) -> object:
        import http.server
        import threading

        pod = ref.split("/", 1)[1]
        if pod == self.late:
            self.tries += 1
            if self.tries == 3:  # the late pod's server comes up on the third look
                server = http.server.HTTPServer(("127.0.0.1", self.ports[pod]), self._late_handler)
                self.servers.append(server)
                threading.Thread(target=server.serve_forever, daemon=True).start()
        return self._contextlib.nullcontext(f"http://127.0.0.1:{self.ports[pod]}")

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


def test_leader_flags_wait_for_a_replica_whose_server_is_not_up_yet() -> None:
    from labkit.failover import leader_flags

    lab = MetricsPods({"r-0": 1.0, "r-1": 0.0, "r-2": 0.0}, late="r-2")
    try:
        flags = leader_flags(lab, timeout=30, progress=False)  # type: ignore[arg-type]
    finally:
        lab.close()
    assert flags == {"r-0": 1.0, "r-1": 0.0, "r-2": 0.0}
    assert lab.tries == 3, "the late replica was tried until it answered"
