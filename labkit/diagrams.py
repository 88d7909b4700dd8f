"""Pictures of the lab: what runs where, drawn with matplotlib for JupyterLab and saved runs alike."""

from __future__ import annotations

from typing import Any

BOX: dict[str, Any] = {"linewidth": 1.2, "edgecolor": "#333333"}
COLORS = {
    "cluster": "#eef3fb",
    "pod": "#cfe3c9",
    "leader": "#8fc47f",
    "volume": "#f4dfb6",
    "service": "#c9d7f0",
    "lease": "#f2c2c2",
    "agent": "#e3d3f0",
    "you": "#ffffff",
}


def _box(ax: Any, x: float, y: float, w: float, h: float, text: str, color: str, **text_kw: Any) -> None:
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02", facecolor=COLORS[color], **BOX))
    text_kw.setdefault("fontsize", 8.5)
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", **text_kw)


def _arrow(
    ax: Any, start: tuple[float, float], end: tuple[float, float], text: str = "", bend: float = 0.0
) -> None:
    style = {"arrowstyle": "->", "color": "#555555", "lw": 1.1, "connectionstyle": f"arc3,rad={bend}"}
    ax.annotate("", xy=end, xytext=start, arrowprops=style)
    if text:
        middle = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.12)
        ax.text(*middle, text, ha="center", fontsize=7.5, color="#444444", backgroundcolor="#ffffffcc")


def what_runs_where(replicas: int = 3, namespace: str = "mcp-mesh", local: bool = True) -> Any:
    """The lab at its fullest (lesson 04): the registry pods with their claims, the two Services, the
    Lease naming the leader, and the agents outside the cluster reaching the registry through a forward.
    Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 6.2))
    ax.set_xlim(0, 11)
    ax.set_ylim(0, 7.0)
    ax.axis("off")
    where = (
        "labkit's local cluster: a real kubelet node, each pod containers on containerd"
        if local
        else ("the cluster (kind / minikube): each pod is a container")
    )
    _box(ax, 0.2, 0.2, 8.0, 6.2, "", "cluster")
    ax.text(0.4, 6.15, f"namespace {namespace}  —  {where}", fontsize=8.5, va="top", style="italic")
    ax.text(0.4, 5.8, "StatefulSet mcp-mesh-registry", fontsize=9, va="top", weight="bold")
    width = 2.3
    for index in range(replicas):
        x = 0.5 + index * (width + 0.3)
        name = f"mcp-mesh-registry-{index}"
        leader = index == 0
        _box(
            ax,
            x,
            3.6,
            width,
            1.7,
            f"pod {name}\n{'leader: Ready' if leader else 'standby: not Ready'}\n:8000",
            "leader" if leader else "pod",
        )
        _box(ax, x + 0.25, 2.5, width - 0.5, 0.7, f"claim data-{name}\n/data (SQLite)", "volume", fontsize=7)
        _arrow(ax, (x + width / 2, 3.6), (x + width / 2, 3.2))
    _box(ax, 0.5, 0.5, 3.3, 1.2, "Service mcp-mesh-registry\n(ClusterIP :8000)\nready pods only", "service")
    _box(
        ax,
        4.3,
        0.5,
        3.6,
        1.2,
        "Service mcp-mesh-registry-headless\nDNS per pod:\nmcp-mesh-registry-0.…",
        "service",
    )
    _arrow(ax, (0.62, 1.7), (0.62, 3.6))
    _box(ax, 8.6, 3.8, 2.2, 1.3, "Lease\nmcp-mesh-registry-leader\nholder: registry-0", "lease")
    _arrow(ax, (9.7, 5.1), (0.5 + width / 2, 5.3), "the leader renews it every few seconds", bend=0.12)
    _box(ax, 8.6, 1.8, 2.2, 1.3, "agents (mcp-mesh)\nprovider, consumer\nheartbeat every 2 s", "agent")
    _box(ax, 8.6, 0.3, 2.2, 1.1, "you: the notebook,\nthe terminal (kubectl)", "you")
    _arrow(ax, (8.6, 2.4), (3.8, 1.2), "port-forward → Service")
    _arrow(ax, (8.6, 0.8), (7.9, 1.0), "")
    fig.tight_layout()
    return fig
