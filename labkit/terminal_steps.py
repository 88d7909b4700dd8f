""" "Try it in the terminal": the exact command an attendee types, proven now with the real kubectl.

The JupyterLab terminals of ``labkit jupyter`` carry the lab's kubeconfig with the lab's namespace on
the current context, so the command is shown without ``-n``; labkit runs the same command with the
lab's context and namespace, checks the output, and shows it as what to expect.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from typing import TYPE_CHECKING

from labkit.checks import check
from labkit.cluster.ports import port_is_free
from labkit.errors import BadParameter
from labkit.kubectl_forward import kubectl_port_forward

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
    _show_and_check(output, expect, f"`{command}` shows what the lesson says", "in its output")
    return output


def _show_and_check(output: str, expect: str, claim: str, where: str) -> None:
    """Print the first lines of a command's output, then check that ``expect`` is found in it."""
    lines = output.rstrip().splitlines()
    for line in lines[:SHOWN_LINES]:
        print(f"    {line}")
    if len(lines) > SHOWN_LINES:
        print(f"    … ({len(lines) - SHOWN_LINES} more lines)")
    check(re.search(expect, output, re.MULTILINE) is not None, claim, f"expected /{expect}/ {where}")


def try_port_forward_in_terminal(lab: Lab, ref: str, port: int, path: str, expect: str) -> str:
    """The guide's ``kubectl port-forward REF PORT:PORT &`` and ``curl http://localhost:PORT/PATH``:
    shown as typed, then run for real (kubectl's port-forward, then curl) and ``expect`` checked in
    curl's output; returns it. Where something on this machine already listens on PORT, kubectl
    forwards from a free port instead, and the lesson says which."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise BadParameter(f"port must be a port number, not {port!r}")
    if not isinstance(path, str) or not path.startswith("/"):
        raise BadParameter(f"path must start with '/', not {path!r}")
    curl = shutil.which("curl")
    if curl is None:
        raise BadParameter("the port-forward step runs curl: apt-get install curl")
    local = port if port_is_free(port) else None
    print(f"▶ try it in the terminal (File › New › Terminal):  kubectl port-forward {ref} {port}:{port} &")
    print(f"                                                     curl http://localhost:{port}{path}")
    with kubectl_port_forward(lab, ref, port, local) as url:
        if local is None:
            used = url.rsplit(":", 1)[1]
            print(f"    (port {port} is taken on this machine: labkit forwarded from {used})")
        result = subprocess.run(
            [curl, "-s", "--max-time", "10", f"{url}{path}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    _show_and_check(
        result.stdout,
        expect,
        f"`curl http://localhost:{port}{path}` through `kubectl port-forward {ref}` answers",
        f"in curl's output (curl exited {result.returncode})",
    )
    return result.stdout
