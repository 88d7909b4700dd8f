"""labkit.streams: bad input is refused before anything runs (the cluster tests are in
tests/cluster/kubelet/test_lab_streams.py)."""

from __future__ import annotations

import pytest

from labkit.errors import BadParameter
from labkit.streams import exec_arguments


def test_exec_arguments_refuse_a_bad_command() -> None:
    with pytest.raises(BadParameter, match="non-empty list of strings"):
        exec_arguments("web", "ls -l", None, False)  # type: ignore[arg-type]
    with pytest.raises(BadParameter):
        exec_arguments("web", [], None, False)
    assert exec_arguments("web", ["cat"], "main", True) == ["exec", "-i", "web", "-c", "main", "--", "cat"]
