"""The "MCP Mesh lab" kernel: this environment's Python with the cluster's KUBECONFIG and kubectl on PATH.

It is installed into this environment's prefix, so two checkouts never share it; a kernel of the same
name elsewhere on Jupyter's path (which would win) is refused unless it runs this very Python.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path

from labkit.errors import LabError

KERNEL_NAME = "mcp-mesh-lab"
DISPLAY_NAME = "MCP Mesh lab"


def own_kernel_dir() -> Path:
    """Where this environment keeps its kernel: ``<sys.prefix>/share/jupyter/kernels/mcp-mesh-lab``."""
    return Path(sys.prefix) / "share" / "jupyter" / "kernels" / KERNEL_NAME


def kernel_spec(env: Mapping[str, str]) -> dict[str, object]:
    """The kernel.json: ipykernel on this Python, with env added to the kernel's environment."""
    return {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": DISPLAY_NAME,
        "language": "python",
        "env": dict(env),
        "metadata": {"debugger": True},
    }


def kernel_search_path() -> list[Path]:
    """Jupyter's kernel folders, first wins: $JUPYTER_PATH, the user's, this environment's, the system's."""
    from jupyter_core.paths import jupyter_path

    return [Path(folder) for folder in jupyter_path("kernels")]


def winning_kernel_dir() -> Path | None:
    """The folder Jupyter would take the kernel from (the first on its data path), if any."""
    for folder in kernel_search_path():
        candidate = folder / KERNEL_NAME
        if (candidate / "kernel.json").is_file():
            return candidate
    return None


def foreign_python(kernel_dir: Path) -> str | None:
    """The Python a kernel folder runs when it is not this environment's, else None."""
    try:
        spec = json.loads((kernel_dir / "kernel.json").read_text())
        python = str(spec["argv"][0])
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return f"an unreadable kernel.json in {kernel_dir}"
    return None if Path(python).resolve() == Path(sys.executable).resolve() else python


def check_kernel(*, replace_foreign: bool = False) -> None:
    """Refuse early, before anything changes, when another environment's kernel of this name would win."""
    winner = winning_kernel_dir()
    if winner is None or winner.resolve() == own_kernel_dir().resolve() or replace_foreign:
        return
    other = foreign_python(winner)
    if other is not None:
        raise LabError(
            f"the kernel {KERNEL_NAME!r} in {winner} runs {other}, another environment, and would be "
            f"used instead of this one's: remove it (jupyter kernelspec remove {KERNEL_NAME}) "
            "or run labkit jupyter --fresh to replace it"
        )


def install_kernel(env: Mapping[str, str], *, replace_foreign: bool = False) -> Path:
    """Write (or refresh) the kernel into this environment; return its folder.

    A same-named kernel of another environment that Jupyter would pick first is a LabError, unless
    replace_foreign (``--fresh``), which rewrites it to run this environment.
    """
    check_kernel(replace_foreign=replace_foreign)
    winner = winning_kernel_dir()
    target = own_kernel_dir()
    if winner is not None and winner.resolve() != target.resolve():
        target = winner
    target.mkdir(parents=True, exist_ok=True)
    (target / "kernel.json").write_text(json.dumps(kernel_spec(env), indent=1) + "\n")
    return target
