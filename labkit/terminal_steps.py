""" "Try it in the terminal": the exact command an attendee types, proven now with the real kubectl.

The JupyterLab terminals of ``labkit jupyter`` carry the lab's kubeconfig with the lab's namespace on
the current context, so the command is shown without ``-n``; labkit runs the same command with the
lab's context and namespace, checks the output, and shows it as what to expect.
"""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING

from labkit.checks import check
from labkit.errors import BadParameter

if TYPE_CHECKING:
    from labkit.lab import Lab

SHOWN_LINES = 8


def try_in_terminal(lab: Lab, command: str, expect: str) -> str:
    """Show ``command`` for the terminal, run it through labkit, check ``expect`` (a regex) is in its
    output, and show the output; return it."""
    if not isinstance(command, str) or not command.startswith("kubectl "):
        raise BadParameter(f"try_in_terminal shows kubectl commands, not {command!r}")
    if not isinstance(expect, str) or not expect:
        raise BadParameter("try_in_terminal needs expect: a regular expression the output must contain")
    args = shlex.split(command)[1:]
    output = lab.kubectl(*args, check=False)
    print(f"▶ try it in the terminal (File › New › Terminal):  {command}")
    lines = output.rstrip().splitlines()
    for line in lines[:SHOWN_LINES]:
        print(f"    {line}")
    if len(lines) > SHOWN_LINES:
        print(f"    … ({len(lines) - SHOWN_LINES} more lines)")
    check(
        re.search(expect, output, re.MULTILINE) is not None,
        f"`{command}` shows what the lesson says",
        f"expected /{expect}/ in its output",
    )
    return output
