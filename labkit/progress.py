"""Progress bars: tqdm's notebook widget when ipywidgets is installed, else its plain text bar.

``tqdm.auto`` without ipywidgets prints an "IProgress not found" warning into every notebook; the text
bar renders fine in Jupyter and keeps executed notebooks small.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from tqdm.std import tqdm as text_tqdm


def progress_bar(*args: Any, **kwargs: Any) -> Any:
    """A tqdm bar suited to where the code runs (same arguments as tqdm)."""
    if importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm as auto_tqdm

        return auto_tqdm(*args, **kwargs)
    return text_tqdm(*args, **kwargs)


def write(message: str) -> None:
    """Print a line without breaking an active bar."""
    text_tqdm.write(message)
