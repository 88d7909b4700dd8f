"""The ``labkit`` command line: doctor, cluster, run, records.

Every command returns an exit status; a LabError prints one line on stderr (no traceback) and exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from labkit.cluster.commands import add_cluster_commands
from labkit.errors import LabError

Handler = Callable[[argparse.Namespace], int]


def cluster_choice(args: argparse.Namespace) -> str:
    """``--context NAME`` when given, else ``--cluster`` (default ``local``)."""
    return str(args.context or args.cluster or "local")


def add_target_options(parser: argparse.ArgumentParser) -> None:
    """--cluster / --context / --namespace, shared by doctor and run."""
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--cluster", help="'local' (default): labkit's local cluster")
    target.add_argument("--context", help="a kube context instead, e.g. kind-kind or minikube")
    parser.add_argument(
        "--namespace", "-n", default="mcp-mesh", help="the lab's namespace (default mcp-mesh)"
    )


def doctor_command(args: argparse.Namespace) -> int:
    """Check Python, packages, kubectl and the cluster; exit 1 when anything needs fixing."""
    from labkit.doctor import format_findings, run_doctor

    findings = run_doctor(cluster_choice(args), args.namespace)
    print(format_findings(findings))
    failed = [f for f in findings if not f.ok]
    print(f"\n{len(findings) - len(failed)}/{len(findings)} checks passed")
    return 1 if failed else 0


def parse_parameters(pairs: list[list[str]] | None) -> dict[str, object]:
    """``-p KEY VALUE`` pairs; values are parsed as JSON when they can be (numbers, true, lists)."""
    parameters: dict[str, object] = {}
    for key, value in pairs or []:
        try:
            parameters[key] = json.loads(value)
        except ValueError:
            parameters[key] = value
    return parameters


def run_command(args: argparse.Namespace) -> int:
    """Run the lab's notebooks in order; exit 1 when any failed."""
    from labkit.runner import run_lab, summary_table

    run_dir, results = run_lab(
        cluster_choice(args),
        args.namespace,
        only=args.only,
        cell_timeout=args.cell_timeout,
        runs_dir=Path(args.runs_dir) if args.runs_dir else None,
        notebooks_dir=Path(args.notebooks) if args.notebooks else None,
        extra_parameters=parse_parameters(args.parameter),
        progress=not args.quiet,
    )
    print()
    print(summary_table(results))
    print(f"\nexecuted notebooks and summary.json: {run_dir}")
    return 0 if all(r.status == "passed" for r in results) else 1


def jupyter_command(args: argparse.Namespace) -> int:
    """Start JupyterLab on a working copy of the lessons, wired to the cluster, until Ctrl-C."""
    from labkit.workshop.command import Options, jupyter_main

    options = Options(
        context=args.context,
        namespace=args.namespace,
        port=args.port,
        fresh=args.fresh,
        progress=sys.stderr.isatty(),  # a redrawn bar in a log is one line per tick
    )
    if args.workdir:
        options.workdir = Path(args.workdir).resolve()
    return jupyter_main(options)


def records_command(args: argparse.Namespace) -> int:
    """Print what an executed notebook recorded, as JSON."""
    from labkit.records import read_records

    print(json.dumps(read_records(args.notebook), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The labkit argument parser."""
    parser = argparse.ArgumentParser(
        prog="labkit",
        description="MCP Mesh registry lab kit: run the registry-on-Kubernetes lab and check your setup",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    doctor = commands.add_parser("doctor", help="check Python, packages, kubectl and the cluster")
    add_target_options(doctor)
    doctor.set_defaults(handler=doctor_command)

    add_cluster_commands(commands)  # labkit.cluster: cluster up|down|status|kubeconfig, image build

    run = commands.add_parser("run", help="run every notebook in order through papermill")
    add_target_options(run)
    run.add_argument(
        "--only", nargs="+", metavar="PREFIX", help="only notebooks starting with these, e.g. 03 04"
    )
    run.add_argument(
        "--cell-timeout", type=float, default=600, help="seconds one cell may take (default 600; 0: no limit)"
    )
    run.add_argument("--runs-dir", help="where run folders go (default: runs/ in the checkout)")
    run.add_argument("--notebooks", help="the notebook folder (default: the kit's notebooks/)")
    run.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        metavar=("KEY", "VALUE"),
        help="extra notebook parameter",
    )
    run.add_argument("--quiet", action="store_true", help="no progress display")
    run.set_defaults(handler=run_command)

    jupyter = commands.add_parser(
        "jupyter", help="JupyterLab on a working copy of the lessons, wired to the cluster (Ctrl-C stops it)"
    )
    jupyter.add_argument(
        "--context", help="a kube context (kind-kind, minikube, ...) instead of the local cluster"
    )
    jupyter.add_argument(
        "--namespace", "-n", default="mcp-mesh", help="the lab's namespace (default mcp-mesh)"
    )
    jupyter.add_argument("--port", type=int, help="JupyterLab's port on 127.0.0.1 (default: a free one)")
    jupyter.add_argument(
        "--fresh", action="store_true", help="restore the lessons in work/ (discards attendees' edits)"
    )
    jupyter.add_argument("--workdir", help="the working copy of the lessons (default: work/ in the checkout)")
    jupyter.set_defaults(handler=jupyter_command)

    records = commands.add_parser("records", help="print what an executed notebook recorded")
    records.add_argument("notebook", help="path of an executed notebook")
    records.set_defaults(handler=records_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the labkit CLI and return its exit status."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return int(handler(args) or 0)
    except LabError as exc:
        print(f"labkit: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("labkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
