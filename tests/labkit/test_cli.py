"""The labkit CLI: parsing, one-line errors without tracebacks, and doctor's findings."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit import cli


def write_kubeconfig(folder: Path) -> Path:
    """A kubeconfig with one context ``a`` whose API server (127.0.0.1:1) never answers."""
    kubeconfig = folder / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: a\n"
        "clusters:\n- name: a\n  cluster: {server: 'https://127.0.0.1:1'}\n"
        "users:\n- name: a\n  user: {token: t}\n"
        "contexts:\n- name: a\n  context: {cluster: a, user: a}\n"
    )
    return kubeconfig


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("doctor", "cluster", "run", "records"):
        assert command in out


def test_cluster_and_context_are_mutually_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "--cluster", "local", "--context", "kind-kind", "--notebooks", "/nonexistent"])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_doctor_with_an_unknown_context_says_so_and_how_to_fix_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(tmp_path)))
    assert cli.main(["doctor", "--context", "kind-nope"]) == 1
    out = capsys.readouterr().out
    assert "✓ python" in out
    assert "✓ kubectl" in out
    assert "✗ cluster reachable" in out
    assert "kube context 'kind-nope' is not in" in out
    assert "(it has: a)" in out
    assert "fix: labkit cluster up, or --context NAME" in out


def test_records_of_a_missing_notebook_is_one_line_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["records", str(tmp_path / "nope.ipynb")]) == 1
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("labkit: notebook ")
    assert "Traceback" not in captured.err


def test_parameters_are_json_when_they_can_be() -> None:
    assert cli.parse_parameters(
        [["replicas", "3"], ["cleanup", "false"], ["image", "mcp-mesh/registry:dev"]]
    ) == {
        "replicas": 3,
        "cleanup": False,
        "image": "mcp-mesh/registry:dev",
    }


def test_doctor_with_an_unreachable_cluster_says_it_does_not_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(tmp_path)))
    assert cli.main(["doctor", "--context", "a"]) == 1
    out = capsys.readouterr().out
    assert "the Kubernetes API at https://127.0.0.1:1 (context 'a') does not answer" in out


def test_cluster_commands_are_wired_in(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["cluster", "status", "--state-dir", str(tmp_path / "state")]) == 3
    assert "stopped" in capsys.readouterr().out
    assert cli.main(["cluster", "kubeconfig", "--state-dir", str(tmp_path / "state")]) == 1
    assert "run `labkit cluster up` first" in capsys.readouterr().err
