"""Multi-GPU and multi-node training: the one DDP block, keyed on torchrun's environment.

Start with torchrun; `init_distributed` reads its RANK, WORLD_SIZE and LOCAL_RANK and opens
the process group (gloo on the CPU, NCCL on GPUs). `data.batch_size` is the global batch:
each process steps on its equal share. With one process (no torchrun, or WORLD_SIZE 1) there
is no process group, and every helper here is a no-op, so the loop reads the same either way.
The collectives (`gather_from_all`, `broadcast_from_main`, `true_on_every_rank`,
`close_distributed`) must be called by every rank, or the others wait forever.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from typing import TYPE_CHECKING, Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

if TYPE_CHECKING:
    from rwsr.train.trainer import Run

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Distributed:
    """This process's place among torchrun's processes (one process: rank 0 of 1)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device_type: str) -> Distributed:
    """DDP when started by torchrun with more than one process, else a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return Distributed(
        dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0"))
    )


def process_device(ddp: Distributed, device: torch.device) -> torch.device:
    """`device`, or under DDP on GPUs the one GPU of this process (its local rank)."""
    if ddp.world > 1 and device.type == "cuda":
        device = torch.device("cuda", ddp.local_rank)
        torch.cuda.set_device(device)
    return device


def wrap_ddp(run: Run) -> None:
    """Wrap G and D for DDP (a no-op for one process)."""
    if run.ddp.world <= 1:
        return
    ids = [run.device.index] if run.device.type == "cuda" else None
    loss = run.config.loss
    # A branch that no loss reaches (e.g. pixel loss only, routed) gets no gradient.
    branch_x_used = loss.adv > 0 or loss.per > 0
    branch_y_used = loss.pix > 0 or loss.per > 0
    unused = loss.routing != "weighted-sum" and not (branch_x_used and branch_y_used)
    run.generator = DistributedDataParallel(
        run.generator, device_ids=ids, find_unused_parameters=unused
    )
    if run.discriminator is not None:
        run.discriminator = DistributedDataParallel(run.discriminator, device_ids=ids)


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, DistributedDataParallel) else model


def gradient_sync(run: Run, sync: bool) -> contextlib.AbstractContextManager[Any]:
    """DDP all-reduces the gradients in a backward whose forward ran outside `no_sync`: of
    a step's micro-batches only the last is synced, the others add up on each rank."""
    stack = contextlib.ExitStack()
    for model in (run.generator, run.discriminator):
        if not sync and isinstance(model, DistributedDataParallel):
            stack.enter_context(model.no_sync())
    return stack


def true_on_every_rank(flag: torch.Tensor, ddp: Distributed) -> torch.Tensor:
    """`flag` (a 0-d float tensor, 1 or 0), made 0 on every rank where any rank's is 0."""
    if ddp.world > 1:
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return flag


def gather_from_all(value: T, ddp: Distributed) -> list[T]:
    """Every rank's `value` (any picklable object), in rank order, on every rank."""
    if ddp.world <= 1:
        return [value]
    gathered: list[Any] = [None] * ddp.world
    dist.all_gather_object(gathered, value)
    return gathered


def broadcast_from_main(value: T, ddp: Distributed) -> T:
    """The main process's `value` (any picklable object) on every rank."""
    if ddp.world <= 1:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def close_distributed(ddp: Distributed) -> None:
    """Wait for every rank to finish, then end the process group."""
    if ddp.world > 1:
        dist.barrier()
        dist.destroy_process_group()
