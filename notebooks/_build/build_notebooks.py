"""Build the lab's notebooks (notebooks/NN-name.ipynb) from their readable sources in src/.

A source is a Python file in the "percent" format: cells start with a line ``# %%``; ``# %% [markdown]``
starts a Markdown cell whose lines are written as comments (``# text``); ``# %% tags=["parameters"]``
tags a code cell; a cell tagged ``solution`` (an exercise's solution) comes out with its source collapsed in
JupyterLab. The notebooks come out without outputs, execution counts or kernel-specific
metadata, with stable cell ids, so rebuilding an unchanged source changes nothing.

    python notebooks/_build/build_notebooks.py           # write every notebook
    python notebooks/_build/build_notebooks.py --check   # exit 1 if a notebook differs from its source
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import nbformat

BUILD_DIR = Path(__file__).resolve().parent
SOURCES = BUILD_DIR / "src"
NOTEBOOKS = BUILD_DIR.parent
CELL_MARKER = re.compile(r"^# %%(?P<markdown> \[markdown\])?(?: tags=(?P<tags>\[.*\]))?\s*$")
METADATA = {
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"},
}


def parse_cells(text: str) -> list[tuple[str, list[str], str]]:
    """(cell type, tags, source) for each cell of a percent-format source."""
    cells: list[tuple[str, list[str], list[str]]] = []
    for line in text.splitlines():
        marker = CELL_MARKER.match(line)
        if marker:
            tags = json.loads(marker.group("tags")) if marker.group("tags") else []
            cells.append(("markdown" if marker.group("markdown") else "code", tags, []))
        elif cells:
            cells[-1][2].append(line)
        elif line.strip() and not line.startswith("#"):
            raise ValueError(f"text before the first '# %%' marker: {line!r}")
    parsed = []
    for kind, tags, lines in cells:
        if kind == "markdown":
            lines = [re.sub(r"^# ?", "", line) if line.startswith("#") else line for line in lines]
        source = "\n".join(lines).strip("\n")
        if source:
            parsed.append((kind, tags, source))
    return parsed


def build(source_path: Path) -> nbformat.NotebookNode:
    """The notebook for one source file."""
    notebook = nbformat.v4.new_notebook(metadata=METADATA)
    stem = source_path.stem
    for index, (kind, tags, source) in enumerate(parse_cells(source_path.read_text())):
        metadata: dict[str, object] = {"tags": tags} if tags else {}
        if "solution" in tags:
            metadata["jupyter"] = {"source_hidden": True}
        cell_id = f"{stem[:48]}-{index:02d}"
        if kind == "markdown":
            cell = nbformat.v4.new_markdown_cell(source, metadata=metadata, id=cell_id)
        else:
            cell = nbformat.v4.new_code_cell(source, metadata=metadata, id=cell_id)
        notebook.cells.append(cell)
    nbformat.validate(notebook)
    return notebook


def render(notebook: nbformat.NotebookNode) -> str:
    return nbformat.writes(notebook) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args(argv)
    stale = []
    for source_path in sorted(SOURCES.glob("*.py")):
        target = NOTEBOOKS / f"{source_path.stem}.ipynb"
        text = render(build(source_path))
        if target.exists() and target.read_text() == text:
            continue
        stale.append(target.name)
        if not args.check:
            target.write_text(text)
    if args.check and stale:
        print("out of date, run notebooks/_build/build_notebooks.py: " + ", ".join(stale))
        return 1
    print(("checked " if args.check else "wrote ") + (", ".join(stale) or "nothing (all up to date)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
