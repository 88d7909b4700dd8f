"""Loopback address blocks, one per local cluster on the machine, so several clusters never collide.

Block ``k`` (0-63) gives the cluster the Service range ``127.(96+k).0.0/16`` (ClusterIPs; the
``kubernetes`` Service is ``127.(96+k).0.1``) and the pod range ``127.(244-k).0.0/16`` for the node
agent. The default state dir takes block 0 when free; others start at a hash of their path. A claim file
in labkit's cache (``clusters/block-<k>``, holding the state dir) stays valid while that state dir's
``cluster.json`` still names the block, so a wiped cluster frees its block.
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
    """One cluster's loopback ranges."""

    index: int

    @property
    def service_cidr(self) -> str:
        return f"127.{96 + self.index}.0.0/16"

    @property
    def pod_cidr(self) -> str:
        return f"127.{244 - self.index}.0.0/16"

    @property
    def kubernetes_service_ip(self) -> str:
        return f"127.{96 + self.index}.0.1"


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
    raise ClusterError(f"all {BLOCKS} loopback address blocks are taken by other local clusters ({registry})")
