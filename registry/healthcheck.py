"""``python -m registry.healthcheck``: exit 0 when this container's registry answers ``GET /health``.

The image's HEALTHCHECK runs it (slim images have no curl or wget); it honours REGISTRY_PORT/PORT.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    port = os.environ.get("REGISTRY_PORT") or os.environ.get("PORT") or "8000"
    url = f"http://127.0.0.1:{port}/health"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"healthcheck: {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
