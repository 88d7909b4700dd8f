"""Address blocks, one per local cluster on the machine, so several clusters never collide.

Block ``k`` (0-63) names the cluster's node network (``labkit.cluster.kubelet.network.NodeNetwork``: its
namespace, node link, pod and Service ranges). The default state dir takes block 0 when free; others
start at a hash of their path. A claim file in labkit's cache (``clusters/block-<k>``, holding the state
dir) stays valid while that state dir's ``cluster.json`` still names the block, so a wiped cluster frees
its block.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path

from labkit.cluster.errors import ClusterError
from labkit.cluster.locks import exclusive_lock

BLOCKS = 64


@dataclass(frozen=True)
class AddressBlock:
    """One cluster's address block number."""

    index: int


def _claimed_by_other(claim: Path, index: int, state_dir: Path) -> bool:
    try:
        owner = Path(claim.read_text().strip())
    except FileNotFoundError:
        return False
    if owner == state_dir:
        return False
    try:
        saved = json.loads((owner / "cluster.json").read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return isinstance(saved, dict) and saved.get("address_block") == index


def claim_block(state_dir: Path, registry: Path, preferred: int | None = None) -> AddressBlock:
    """Claim a block for ``state_dir`` (its previous one, ``preferred``, when still free)."""
    state_dir = state_dir.resolve()
    registry.mkdir(parents=True, exist_ok=True)
    start = preferred if preferred is not None else zlib.crc32(str(state_dir).encode()) % BLOCKS
    with exclusive_lock(registry / ".lock"):
        for offset in range(BLOCKS):
            index = (start + offset) % BLOCKS
            claim = registry / f"block-{index}"
            if not _claimed_by_other(claim, index, state_dir):
                claim.write_text(str(state_dir))
                return AddressBlock(index)
    raise ClusterError(f"all {BLOCKS} address blocks are taken by other local clusters ({registry})")
