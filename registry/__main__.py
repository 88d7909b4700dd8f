"""``python -m registry``: read the configuration (exit 2 on a bad value), then serve until SIGTERM.

The event loop is uvloop's, as Hypercorn's own uvloop worker would run it: at thousands of heartbeats a
second most of a request's cost is the loop and the socket transports, which uvloop runs in C.
"""

from __future__ import annotations

import logging
import sys

import uvloop

from registry.config import ConfigError, load_settings
from registry.logs import configure_logging
from registry.server import run
from registry.storage.migrations import SchemaTooNew


def main() -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"registry: {exc}", file=sys.stderr, flush=True)
        return 2
    configure_logging(settings.log_level)
    try:
        uvloop.run(run(settings))
    except SchemaTooNew as exc:
        logging.getLogger("registry").error(str(exc))
        return 2
    except OSError as exc:
        logging.getLogger("registry").error("cannot start: %s", exc)
        return 1
    except Exception as exc:
        logging.getLogger("registry").error("registry failed: %s: %s", type(exc).__name__, exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
