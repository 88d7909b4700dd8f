"""The ``kubectl port-forward`` process wrapper, with stand-in kubectl processes."""

from __future__ import annotations

import sys
import textwrap

import httpx
import pytest

from labkit.errors import LabError
from labkit.kubectl_forward import kubectl_forward
from tests.labkit.stub_registry import StubState
from tests.processes import free_port


def fake_kubectl(script: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(script)]


def test_kubectl_forward_waits_for_forwarding_from_and_stops_the_process(stub: tuple[str, StubState]) -> None:
    url, _ = stub
    port = url.rsplit(":", 1)[1]
    command = fake_kubectl(
        f"""
        import time
        print("Forwarding from 127.0.0.1:{port} -> 8000", flush=True)
        print("Forwarding from [::1]:{port} -> 8000", flush=True)
        time.sleep(60)
        """
    )
    with kubectl_forward(command, {}) as forwarded:
        assert forwarded == f"http://127.0.0.1:{port}"
        assert httpx.get(forwarded + "/health").json() == {"status": "healthy"}


def test_kubectl_forward_that_exits_is_one_clear_error() -> None:
    command = fake_kubectl(
        """
        import sys
        print('error: unable to forward port because pod is not running. Current status=Pending', flush=True)
        sys.exit(1)
        """
    )
    with (
        pytest.raises(
            LabError, match=r"kubectl port-forward exited with status 1: error: unable to forward port"
        ),
        kubectl_forward(command, {}, timeout=10),
    ):
        pass


def test_kubectl_forward_that_never_forwards_times_out() -> None:
    command = fake_kubectl("import time; time.sleep(30)")
    with (
        pytest.raises(LabError, match=r"did not start forwarding within 1s"),
        kubectl_forward(command, {}, timeout=1),
    ):
        pass
    assert free_port()  # the port helper still works: nothing leaked a listening socket
