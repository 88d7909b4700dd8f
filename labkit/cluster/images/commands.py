"""``labkit image build [NAME ...]``: rebuild images for the local cluster's node and import them.

Without names it rebuilds ``mcp-mesh/registry:dev`` from the kit's ``registry/Dockerfile``, so a code
change reaches pods that use the local image (``imagePullPolicy: Never`` or ``IfNotPresent``) once they
are recreated, and pods with ``Always`` on their next pull.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from labkit.cluster.images.catalog import REGISTRY_IMAGE, ensure_image, find_recipe
from labkit.cluster.kubelet.tools import ensure_node_tools
from labkit.cluster.local import LocalCluster

Handler = Callable[[argparse.Namespace], int]


def image_build(args: argparse.Namespace) -> int:
    """Rebuild the named images (default: the registry's) and import them into a running kubelet node."""
    recipes = [find_recipe(name) for name in (args.names or [REGISTRY_IMAGE])]
    tools = ensure_node_tools()
    cluster = LocalCluster(state_dir=args.state_dir)
    running = cluster.is_running()
    for recipe in recipes:
        started = time.monotonic()
        archive = ensure_image(recipe, tools, rebuild=True)
        print(f"built {recipe.name} in {time.monotonic() - started:.0f}s: {archive}")
        if running:
            cluster.kubelet_node().import_archive(tools, archive)
            print(f"imported {recipe.name} into the node's containerd")
    if not running:
        print("no local cluster is running here: the next `labkit cluster up` imports it")
    return 0


def add_image_commands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], guarded: Callable[[Handler], Handler]
) -> None:
    """Add ``image build`` to the labkit CLI; ``guarded`` turns LabErrors into one-line messages."""
    image = subparsers.add_parser("image", help="images for the local kubelet node (build)")
    commands = image.add_subparsers(dest="image_command", required=True, metavar="COMMAND")
    build = commands.add_parser(
        "build", help="rebuild images (default: mcp-mesh/registry:dev) and import them"
    )
    build.add_argument(
        "names", nargs="*", metavar="NAME", help="image names, e.g. busybox, mcp-mesh/registry:dev"
    )
    build.add_argument(
        "--state-dir", help="the cluster's state folder (default: ~/.local/state/labkit/cluster)"
    )
    build.set_defaults(handler=guarded(image_build))
