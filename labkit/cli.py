"""The ``labkit`` command line."""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    """Run the labkit CLI and return its exit status."""
    parser = argparse.ArgumentParser(prog="labkit", description="MCP Mesh registry lab kit")
    parser.parse_args(argv)
    parser.print_help()
    return 0
