"""``python -m labkit.cluster.node --kubeconfig K --state-dir D --node-name N``: run the node agent."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from labkit.cluster.node.backoff import DEFAULT_BASE_SECONDS


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The agent's command line; defaults for the optional paths come from the launcher's environment."""
    parser = argparse.ArgumentParser(prog="python -m labkit.cluster.node", description=__doc__)
    parser.add_argument("--kubeconfig", required=True, help="kubeconfig with the node's (admin) credentials")
    parser.add_argument("--state-dir", required=True, type=Path, help="where pods' files and logs live")
    parser.add_argument("--node-name", default="labkit-node")
    parser.add_argument("--host-ip", default="127.0.0.1", help="the node's InternalIP (a loopback address)")
    parser.add_argument("--kubelet-port", type=int, default=0, help="port of the log endpoint (0: any free)")
    parser.add_argument(
        "--backoff-base",
        type=float,
        default=float(os.environ.get("LABKIT_NODE_BACKOFF_BASE", DEFAULT_BASE_SECONDS)),
        help="first crash back-off in seconds (the kubelet's 10 s; LABKIT_NODE_BACKOFF_BASE)",
    )
    parser.add_argument("--log-level", default=os.environ.get("LABKIT_NODE_LOG_LEVEL", "info"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the agent until SIGTERM; exit 2 with one line on bad arguments."""
    args = parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    if not Path(args.kubeconfig).is_file():
        print(f"node agent: --kubeconfig {args.kubeconfig}: no such file", file=sys.stderr)
        return 2
    if args.backoff_base <= 0:
        print(
            f"node agent: --backoff-base {args.backoff_base}: must be a positive number of seconds",
            file=sys.stderr,
        )
        return 2
    from labkit.cluster.node.agent import AgentConfig, NodeAgent, can_isolate, install_signal_handlers

    env_path = lambda name: Path(os.environ[name]) if os.environ.get(name) else None  # noqa: E731
    config = AgentConfig(
        kubeconfig=args.kubeconfig,
        state_dir=args.state_dir,
        node_name=args.node_name,
        host_ip=args.host_ip,
        kubelet_port=args.kubelet_port,
        backoff_base=args.backoff_base,
        isolate=can_isolate(),
        serving_cert=env_path("LABKIT_NODE_SERVING_CERT"),
        serving_key=env_path("LABKIT_NODE_SERVING_KEY"),
        client_ca=env_path("LABKIT_CLUSTER_CA"),
    )
    agent = NodeAgent(config)
    install_signal_handlers(agent)
    return agent.run()


if __name__ == "__main__":
    sys.exit(main())
