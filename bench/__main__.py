"""``python -m bench``: run the registry benchmark (see bench/README.md)."""

from bench.run import main

raise SystemExit(main())
