"""``labkit cluster up|down|status|kubeconfig`` (and ``labkit image build``): the local cluster's subcommands.

``labkit/cli.py`` calls ``add_cluster_commands(subparsers)``; each parsed command carries its handler in
``args.handler`` (``handler(args) -> int``, the exit status). Errors print one line on stderr, exit 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from labkit.cluster.errors import ClusterError
from labkit.cluster.local import LocalCluster
from labkit.errors import LabError

Handler = Callable[[argparse.Namespace], int]


def _cluster(args: argparse.Namespace) -> LocalCluster:
    return LocalCluster(state_dir=args.state_dir, bin_dir=getattr(args, "bin_dir", None))


def _guarded(handler: Handler) -> Handler:
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except LabError as error:
            print(f"labkit cluster: {error}", file=sys.stderr)
            return 1

    run.__doc__ = handler.__doc__
    return run


def cluster_up(args: argparse.Namespace) -> int:
    """Start the local cluster (building its binaries once if needed) and say how to use it."""
    cluster = _cluster(args)
    info = cluster.up(progress=not args.quiet, with_node=not args.without_node, timeout=args.timeout)
    for message in info.recovered:
        print(f"labkit: {message}")
    state = "started" if info.started else "already running"
    print(f"Local cluster {state} ({info.seconds:.1f}s); API server {info.server}")
    print(f"kubeconfig: {info.kubeconfig}")
    print("Use it with:")
    print(f"  export KUBECONFIG={info.kubeconfig}")
    print("  kubectl get nodes")
    print('or from Python: labkit.connect(cluster="local")')
    return 0


def cluster_down(args: argparse.Namespace) -> int:
    """Stop every process the cluster started; --wipe also deletes its state (data, certificates, logs)."""
    cluster = _cluster(args)
    stopped = cluster.down(wipe=args.wipe)
    print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    if args.wipe:
        print(f"removed {cluster.state_dir}")
    return 0


def cluster_status(args: argparse.Namespace) -> int:
    """Show each component's pid, port and state; exit 0 when the cluster runs, 3 when it does not."""
    cluster = _cluster(args)
    print(cluster.status().table())
    return 0 if cluster.is_running() else 3


def cluster_kubeconfig(args: argparse.Namespace) -> int:
    """Print just the kubeconfig path, for scripts (``export KUBECONFIG=$(labkit cluster kubeconfig)``)."""
    cluster = _cluster(args)
    if not cluster.kubeconfig_path.is_file():
        raise ClusterError(f"no kubeconfig at {cluster.kubeconfig_path}: run `labkit cluster up` first")
    print(cluster.kubeconfig_path)
    return 0


def add_cluster_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``cluster`` with its subcommands to the labkit CLI's subparsers."""
    cluster = subparsers.add_parser(
        "cluster", help="the local Kubernetes cluster (up, down, status, kubeconfig)"
    )
    commands = cluster.add_subparsers(dest="cluster_command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--state-dir", help="state folder (default: ~/.local/state/labkit/cluster)")

    up = commands.add_parser("up", parents=[common], help="start the cluster (idempotent)")
    up.add_argument("--bin-dir", help="take the binaries from this folder first (also LABKIT_BIN_DIR)")
    up.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for readiness")
    up.add_argument("--without-node", action="store_true", help="control plane only, no kubelet node")
    up.add_argument("--quiet", action="store_true", help="no progress display")
    up.set_defaults(handler=_guarded(cluster_up))

    down = commands.add_parser("down", parents=[common], help="stop everything the cluster started")
    down.add_argument("--wipe", action="store_true", help="also delete the cluster's state")
    down.set_defaults(handler=_guarded(cluster_down))

    status = commands.add_parser("status", parents=[common], help="what runs where")
    status.set_defaults(handler=_guarded(cluster_status))

    kubeconfig = commands.add_parser("kubeconfig", parents=[common], help="print the kubeconfig path")
    kubeconfig.set_defaults(handler=_guarded(cluster_kubeconfig))

    from labkit.cluster.images.commands import add_image_commands

    add_image_commands(subparsers, _guarded)
