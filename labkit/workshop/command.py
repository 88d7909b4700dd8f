"""``labkit jupyter``: cluster, kernel, working copy, terminals' kubeconfig, then JupyterLab until Ctrl-C."""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from labkit import streams
from labkit.cluster import LocalCluster
from labkit.errors import ClusterUnavailable, LabError
from labkit.kube import Kube
from labkit.lab import check_namespace_name
from labkit.paths import NOTEBOOKS, REPO_ROOT, kubectl_path
from labkit.workshop import kernel, kubeconfig, server, workcopy

WORKDIR = REPO_ROOT / "work"


@dataclass
class Options:
    """What ``labkit jupyter`` was asked for."""

    context: str | None = None
    namespace: str = "mcp-mesh"
    port: int | None = None
    fresh: bool = False
    workdir: Path = WORKDIR
    notebooks: Path = NOTEBOOKS
    progress: bool = True


def say(message: str) -> None:
    print(f"labkit jupyter: {message}", flush=True)


def state_root() -> Path:
    """labkit's state folder (``$XDG_STATE_HOME/labkit``), beside the local cluster's."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "labkit"


def local_cluster_kubeconfig(progress: bool) -> str:
    """Start labkit's local cluster unless it runs; return its kubeconfig. Says which it did."""
    try:
        cluster = LocalCluster()
        running = cluster.is_running()
    except OSError as exc:
        raise ClusterUnavailable(
            f"there is no cluster: the local cluster's state cannot be read ({exc}); "
            "see `labkit doctor`, or point at another cluster with --context NAME"
        ) from None
    if running:
        say(f"the local cluster is running ({cluster.kubeconfig_path})")
        return str(cluster.kubeconfig_path)
    say("the local cluster is not running: starting it")
    started = time.monotonic()
    try:
        info = cluster.up(progress=progress)
    except Exception as exc:
        raise ClusterUnavailable(
            f"there is no cluster: the local cluster did not start ({exc}); "
            "see `labkit doctor`, or point at another cluster with --context NAME"
        ) from None
    say(f"the local cluster started in {time.monotonic() - started:.0f}s ({info.kubeconfig})")
    return str(info.kubeconfig)


def reach_cluster(options: Options) -> tuple[list[str], str | None, str]:
    """The kubeconfig files, the context and the server version of a cluster that answers (the local one
    by default)."""
    if options.context is None:
        files = [local_cluster_kubeconfig(options.progress)]
        context = None
    else:
        files = kubeconfig.default_kubeconfigs()
        context, _ = kubeconfig.find_context(files, options.context)
    kube = Kube(os.pathsep.join(files), context)
    version = kube.server_version()  # a cluster that does not answer is one line saying what to do
    say(f"cluster {kube.host} (context {kube.context_name!r}) answers: Kubernetes {version}")
    return files, context, version


def lab_kubectl(local: bool, version: str, folder: Path) -> str:
    """The kubectl the kernel and terminals find first: on the local cluster labkit's build of the
    server's minor version (the kit's kubectl is far outside kubectl's supported version skew), linked
    alone into ``folder`` so that the other cluster binaries stay off PATH; else the kit's."""
    chosen = streams.server_kubectl(version) if local else None
    if chosen is None:
        return kubectl_path()
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "kubectl"
    if not (link.is_symlink() and os.readlink(link) == chosen):
        link.unlink(missing_ok=True)
        link.symlink_to(chosen)
    return str(link)


def lab_environment(kubeconfig_value: str, kubectl: str | None = None) -> dict[str, str]:
    """What the kernel and the terminals add to the environment: KUBECONFIG, and kubectl first on PATH."""
    kubectl_dir = str(Path(kubectl or kubectl_path()).parent)
    path = os.pathsep.join(
        [kubectl_dir, *(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != kubectl_dir)]
    )
    return {"KUBECONFIG": kubeconfig_value, "PATH": path}


def run_jupyter(options: Options) -> int:
    """Prepare everything, start JupyterLab and serve until Ctrl-C; return the exit status."""
    namespace = check_namespace_name(options.namespace)
    record = server.state_file(state_root(), options.workdir)
    running = server.running_lab(record)
    if running is not None:
        if options.fresh:
            raise LabError(
                f"JupyterLab already serves {running.workdir} (pid {running.pid}): stop it (Ctrl-C where it "
                "runs) before labkit jupyter --fresh"
            )
        say("JupyterLab is already running for this working copy")
        print(running.url, flush=True)
        return 0
    port = server.choose_port(options.port)
    kernel.check_kernel(replace_foreign=options.fresh)
    files, context, version = reach_cluster(options)
    kubectl = lab_kubectl(options.context is None, version, state_root() / f"kubectl-{version}")

    workshop_config = record.with_name(record.stem + "-kubeconfig")
    kubeconfig_value = kubeconfig.write_workshop_kubeconfig(workshop_config, files, context, namespace)
    env = lab_environment(kubeconfig_value, kubectl)
    kernel_dir = kernel.install_kernel(env, replace_foreign=options.fresh)
    say(f'kernel "{kernel.DISPLAY_NAME}" ({kernel.KERNEL_NAME}) in {kernel_dir}')

    parameters = {"namespace": namespace, **({"cluster": options.context} if options.context else {})}
    report = workcopy.prepare_working_copy(
        options.notebooks, options.workdir, parameters, fresh=options.fresh
    )
    say(
        f"lessons in {options.workdir}"
        + (" (fresh)" if options.fresh else "")
        + f": {len(report.written)} written, {len(report.unchanged)} unchanged"
    )
    if report.kept_edits:
        say(
            f"kept your edits in {', '.join(report.kept_edits)}: they are not replaced by the kit's lessons; "
            "labkit jupyter --fresh restores the lessons (and discards the edits)"
        )
    say(f"terminals: KUBECONFIG={kubeconfig_value}, kubectl {kubectl}, namespace {namespace}")

    server_env = {**os.environ, **env}
    started = time.monotonic()
    log_path = record.with_suffix(".log")
    lab, process = server.start_lab(
        options.workdir, port, server_env, record, log_path, progress=options.progress
    )

    def stop_on_terminate(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop_on_terminate)
    # Started in the background by a script (`labkit jupyter &`, nohup), Python inherits SIGINT ignored
    # and keeps it so: Ctrl-C, or a `kill -INT`, would then leave JupyterLab running.
    previous_interrupt = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:  # from the moment the URL shows, Ctrl-C means "stop JupyterLab", however soon it comes
        say(f"JupyterLab answers after {time.monotonic() - started:.1f}s (log: {log_path}); Ctrl-C stops it")
        print(lab.url, flush=True)
        status = process.wait()
        say(f"JupyterLab exited ({status})")
        return 1 if status else 0
    except KeyboardInterrupt:
        say("stopping JupyterLab")
        server.stop_lab(process)
        say("JupyterLab stopped")
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_interrupt)
        record.unlink(missing_ok=True)


def jupyter_main(options: Options) -> int:
    """The CLI entry, so a test can call it in-process."""
    try:
        return run_jupyter(options)
    finally:
        sys.stdout.flush()
