"""A replica that never proxies, forwards a cancel or makes a backup never loads their libraries.

httpx (and, in a development environment, the rich/pygments/click that its CLI pulls in) and
cryptography cost every replica several MiB of resident memory; they are imported on first use.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import asyncio, sys
from registry.app import create_app
from registry.config import load_settings
from registry.runtime import RegistryRuntime

async def main():
    runtime = RegistryRuntime(load_settings({"DATABASE_PATH": sys.argv[1], "LOG_LEVEL": "warning"}))
    await runtime.start()
    client = create_app(runtime).test_client()
    body = {"agent_id": "agent-a", "tools": [{"function_name": "f", "capability": "c"}]}
    assert (await client.post("/heartbeat", json=body)).status_code == 200
    assert (await client.get("/agents")).status_code == 200
    await runtime.stop()
    print(" ".join(sorted(name for name in ("httpx", "cryptography", "rich") if name in sys.modules)))

asyncio.run(main())
"""


def test_serving_heartbeats_loads_neither_httpx_nor_cryptography(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "registry.db")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
