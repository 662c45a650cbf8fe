"""Training on several processes: `torchrun --nproc_per_node N -m memelib train ...`.

Each process (a "rank") trains a copy of the model on its share of every batch; DistributedDataParallel
averages the gradients, so all copies stay identical. Backends: NCCL between GPUs, gloo on CPUs.
Only rank 0 prints and writes files. A global batch holds the same memes as in a single-process run
(each rank takes every N-th of them), so results agree with one process up to floating-point order
and the per-rank averaging of the class-weighted loss.

Without torchrun (no WORLD_SIZE in the environment) every function here is a no-op.
Explained in the README ("Several GPUs").
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Callable

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["Dist", "init_distributed", "wrap_model", "shard"]


@dataclass
class Dist:
    rank: int = 0  # this process's number, 0 .. world - 1
    world: int = 1  # how many processes train together
    device: torch.device = torch.device("cpu")  # this process's device (its own GPU under torchrun)

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that prints and writes files."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def main_only(self, log: Callable[[str], None]) -> Callable[[str], None]:
        return log if self.is_main else (lambda message: None)

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


def init_distributed(device: torch.device) -> Dist:
    """Join the process group that torchrun set up (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(0, 1, device)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        # a long timeout: rank 0 may extract features for many minutes while the others wait
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=datetime.timedelta(hours=3))
    return Dist(rank, world, device)


def wrap_model(model: nn.Module, d: Dist) -> nn.Module:
    """The model as DistributedDataParallel when several processes train, else unchanged."""
    if not d.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    uses_all = model.fusion.uses_text and model.fusion.uses_image
    return DistributedDataParallel(
        model, device_ids=[d.device.index] if d.device.type == "cuda" else None,
        find_unused_parameters=not uses_all,  # a unimodal head leaves one trainable tower unused
    )


def shard(batch: dict[str, torch.Tensor], d: Dist) -> dict[str, torch.Tensor]:
    """This rank's part of a global batch: every `world`-th item, starting at its rank."""
    if not d.enabled:
        return batch
    return {k: v[d.rank :: d.world] for k, v in batch.items()}
