"""Recorded figures: kept in the executed notebook as display outputs, read back by tests and `labkit run`."""

from __future__ import annotations

import contextlib
import json
import math
import os
from pathlib import Path
from typing import Any

from labkit.errors import BadParameter, LabError

RECORD_MIME = "application/vnd.labkit.record+json"


def plain(value: Any) -> Any:
    """numpy/pandas scalars unwrapped, NaN and infinities as None, containers walked."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        with contextlib.suppress(TypeError, ValueError):
            value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_value(name: str, value: Any) -> Any:
    """The value as plain JSON; BadParameter when it cannot be."""
    try:
        return json.loads(json.dumps(plain(value), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise BadParameter(f"record {name!r}: the value must be JSON-serialisable ({exc})") from None


def record(name: str, value: Any) -> None:
    """Store a named value in the notebook's output (mime ``application/vnd.labkit.record+json``)."""
    if not isinstance(name, str) or not name:
        raise BadParameter(f"record needs a non-empty string name, not {name!r}")
    payload = {"name": name, "value": json_value(name, value)}
    from IPython.display import display

    display({RECORD_MIME: payload, "text/plain": f"recorded {name} = {payload['value']!r}"}, raw=True)


def read_records(notebook_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Every value a notebook recorded, by name (a later record of a name wins)."""
    import nbformat  # only reading needs it, and importing it costs seconds (jsonschema) in every kernel

    path = Path(notebook_path)
    if not path.is_file():
        raise LabError(f"notebook {str(path)!r} does not exist")
    try:
        notebook = nbformat.read(path, as_version=4)
    except Exception as exc:
        raise LabError(f"cannot read notebook {path}: {exc}") from None
    records: dict[str, Any] = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            data = output.get("data") or {}
            if RECORD_MIME in data:
                payload = data[RECORD_MIME]
                if isinstance(payload, str):
                    payload = json.loads(payload)
                records[payload["name"]] = payload["value"]
    return records
