"""JupyterLab's port: a busy --port is one line naming it, a free one is taken as given."""

from __future__ import annotations

import socket

import pytest

from labkit.errors import BadParameter, LabError
from labkit.workshop.server import choose_port, lab_command, terminal_shell


def test_a_port_in_use_says_what_to_do() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(LabError, match=rf"port {port} on 127.0.0.1 is in use.*--port"):
            choose_port(port)


def test_no_port_gives_a_free_one_and_a_bad_one_is_refused() -> None:
    assert 1024 <= choose_port(None) <= 65535
    with pytest.raises(BadParameter):
        choose_port(0)


def test_the_server_is_bound_to_loopback_with_a_token(tmp_path: object) -> None:
    command = lab_command(8899, "secret", tmp_path, tmp_path, tmp_path)  # type: ignore[arg-type]
    assert "--ServerApp.ip=127.0.0.1" in command
    assert "--IdentityProvider.token=secret" in command
    assert "--ServerApp.port_retries=0" in command


def test_terminals_run_the_users_shell_without_login(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHELL", "/bin/zsh")
    command = lab_command(8899, "secret", tmp_path, tmp_path, tmp_path)  # type: ignore[arg-type]
    assert '--ServerApp.terminado_settings={"shell_command": ["/bin/zsh"]}' in command
    monkeypatch.delenv("SHELL")
    assert terminal_shell() == ["/bin/sh"]
