"""The attendees' working copy of the lessons (``work/``, ignored by git).

Attendees edit and run the copies, so the committed notebooks stay clean. A copy still as labkit wrote
it follows the kit (a newer lesson, other parameters); a copy with the attendee's edits is kept as it is
until ``--fresh``. Edits mean cell sources: outputs saved by running a lesson are not edits.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from labkit.errors import LabError
from labkit.workshop.kernel import DISPLAY_NAME, KERNEL_NAME

RECORD = ".labkit-lessons.json"


@dataclass
class CopyReport:
    """What preparing the working copy did, lesson by lesson."""

    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept_edits: list[str] = field(default_factory=list)


def lesson_files(notebooks: Path) -> list[Path]:
    """The lessons (``NN-name.ipynb``) in order."""
    found = sorted(p for p in notebooks.glob("*.ipynb") if p.name[:1].isdigit())
    if not found:
        raise LabError(f"no lessons (NN-name.ipynb) in {notebooks}")
    return found


def fingerprint(notebook: Any) -> str:
    """A hash of the cells' types and sources (not outputs, not metadata)."""
    cells = [[cell.get("cell_type"), "".join(cell.get("source") or "")] for cell in notebook.get("cells", [])]
    return hashlib.sha256(json.dumps(cells).encode()).hexdigest()


def set_parameter(source: str, name: str, value: str) -> str:
    """The parameters cell with ``name = <value>`` (a string literal), keeping the line's comment."""
    pattern = re.compile(rf"^({re.escape(name)}\s*=\s*)(\"[^\"]*\"|'[^']*')", re.MULTILINE)
    return pattern.sub(lambda m: m.group(1) + json.dumps(value), source, count=1)


def attendee_copy(lesson: Path, parameters: dict[str, str]) -> Any:
    """The lesson as attendees get it: the lab's kernel, and parameters for their cluster."""
    notebook = nbformat.read(str(lesson), as_version=4)
    notebook.metadata["kernelspec"] = {
        "name": KERNEL_NAME,
        "display_name": DISPLAY_NAME,
        "language": "python",
    }
    for cell in notebook.cells:
        if "parameters" in (cell.get("metadata", {}).get("tags") or []):
            for name, value in parameters.items():
                cell.source = set_parameter(cell.source, name, value)
    return notebook


def read_record(workdir: Path) -> dict[str, str]:
    try:
        data = json.loads((workdir / RECORD).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def prepare_working_copy(
    notebooks: Path, workdir: Path, parameters: dict[str, str], *, fresh: bool = False
) -> CopyReport:
    """Create or refresh the working copy; with fresh, start it over (everything in it is replaced)."""
    lessons = lesson_files(notebooks)
    if fresh and workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    record = read_record(workdir)
    report = CopyReport()
    for lesson in lessons:
        target = workdir / lesson.name
        wanted = attendee_copy(lesson, parameters)
        wanted_print = fingerprint(wanted)
        if target.exists():
            try:
                current_print = fingerprint(nbformat.read(str(target), as_version=4))
            except Exception:  # an unreadable notebook is the attendee's business: keep it
                current_print = "unreadable"
            if current_print == wanted_print:
                report.unchanged.append(lesson.name)
                record[lesson.name] = wanted_print
                continue
            if current_print != record.get(lesson.name):
                report.kept_edits.append(lesson.name)
                continue
        nbformat.write(wanted, str(target))
        record[lesson.name] = wanted_print
        report.written.append(lesson.name)
    (workdir / RECORD).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return report
