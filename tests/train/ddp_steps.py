"""Run by torchrun for tests/train/test_trainer.py: `python ddp_steps.py JOB OUT`.

JOB (torch.save'd) holds a config file, named override lists and fixed global batches. For each
named run, every rank calls `trainer.setup` (models in float64, as the test's reference) and
then `trainer.train_step` on its equal share of each batch (rank r takes the r-th slice), and
saves its G and D parameters and G's last
gradient to OUT/{name}_rank{rank}.pt, so the test can compare the ranks with each other and
with one process stepping on the whole batches.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist

from rwsr.train import trainer
from rwsr.train.config import load_config
from rwsr.train.ddp import unwrap


def main(job_path: str, out: str) -> None:
    torch.set_default_dtype(torch.float64)
    job = torch.load(job_path)
    for name, overrides in job["runs"].items():
        run = trainer.setup(load_config(job["config"], overrides))
        # A random VGG (tests only) comes from each rank's own seed; ImageNet weights would be
        # the same on every rank, so give every rank rank 0's.
        for tensor in run.perceptual.state_dict().values() if run.perceptual else ():
            dist.broadcast(tensor, src=0)
        rank, world = run.ddp.rank, run.ddp.world
        for batch in job["batches"]:
            share = len(batch["lr"]) // world
            mine = {key: images[rank * share : (rank + 1) * share] for key, images in batch.items()}
            if trainer.train_step(run, mine) is None:
                raise RuntimeError(f"{name}: a step was skipped (non-finite losses)")
        saved = {
            part: {key: value.detach().clone() for key, value in unwrap(model).named_parameters()}
            for part, model in (("generator", run.generator), ("discriminator", run.discriminator))
            if model is not None
        }
        saved["generator_grad"] = {  # the last step's, averaged over the ranks by DDP
            key: value.grad.clone()
            for key, value in unwrap(run.generator).named_parameters()
            if value.grad is not None
        }
        torch.save(saved, Path(out) / f"{name}_rank{rank}.pt")
    dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:])
