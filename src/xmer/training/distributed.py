"""Data-parallel training on PyTorch's own engine (``torch.distributed``), launched with torchrun::

    torchrun --nproc_per_node 4 -m xmer train --config configs/toy.yaml --out runs/a

Every process (rank) holds the whole system. Each epoch's training samples are drawn once (a mixture
of weighted sources resamples them: :meth:`xmer.data.dataset.Dataset.epoch`, a function of the epoch's
seed only, so every rank draws the same list), then shuffled the same way on every rank and dealt out
(:func:`shard`, padded to a multiple of the world size), so each rank trains on its own ``1/world`` of
them and every rank takes the same number of steps, with ``data.batch_size`` samples per rank and step. After every backward pass the gradients of the
optimiser's parameters are averaged over the ranks (:func:`average_gradients`), so every rank takes
the same optimiser step and the replicas stay identical. The trainer calls the recogniser, Algorithm
1's augmentation and the translators' objectives as separate modules, and one step runs two backward
passes over different parameter sets (the recogniser's loss; every n-th step the translators' and the
discriminators' own, with ``backward(inputs=...)``), so a ``DistributedDataParallel`` wrapper (which
hooks one module's forward and reduces once per backward over all of its parameters) does not fit
without folding those into one module and running it with ``find_unused_parameters``, which costs an
extra graph traversal per step; the explicit all-reduce does the same job:
one flat buffer per optimiser, and a parameter no rank used in the step (a batch without audio leaves
the audio encoder idle) keeps no gradient, as in a single process.

Validation runs on every rank over the whole validation split (the ranks agree on early stopping
without talking), and rank 0 alone writes the run folder. The backend is NCCL on GPUs, Gloo on CPUs.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Context:
    """Where this process stands: ``rank`` of ``world`` processes (``world == 1``: not distributed)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def init_from_env(device: torch.device) -> Context:
    """Join the process group torchrun describes in the environment (``WORLD_SIZE`` > 1), once."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Context()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Context(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def shard(records: Sequence[dict], context: Context, seed: int) -> list[dict]:
    """This rank's share of ``records`` for one epoch: a permutation by ``seed`` (the same on every
    rank), padded by wrapping around to a multiple of ``world`` so all ranks take as many steps, and
    dealt out round-robin."""
    if not context.distributed:
        return list(records)
    order = torch.randperm(len(records), generator=torch.Generator().manual_seed(seed)).tolist()
    per_rank = math.ceil(len(order) / context.world)
    order = (order * context.world)[: per_rank * context.world]
    return [records[i] for i in order[context.rank :: context.world]]


def average_gradients(parameters: Sequence[torch.nn.Parameter], context: Context) -> None:
    """Replace every parameter's gradient by its mean over the ranks (one all-reduce). A parameter
    with no gradient on any rank keeps none; one used on some ranks gets their sum over ``world``."""
    if not context.distributed or not parameters:
        return
    reference = parameters[0]
    flags = torch.tensor([p.grad is not None for p in parameters], dtype=reference.dtype, device=reference.device)
    flat = torch.cat(
        [flags] + [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in parameters]
    )
    dist.all_reduce(flat)
    used, values = flat[: len(parameters)], flat[len(parameters) :] / context.world
    offset = 0
    for parameter, count in zip(parameters, used.tolist()):
        n = parameter.numel()
        parameter.grad = values[offset : offset + n].view_as(parameter).clone() if count > 0 else None
        offset += n


def check_in_sync(module: torch.nn.Module, context: Context) -> None:
    """Raise if the replicas' parameters differ across ranks (compared by a checksum each epoch):
    averaged gradients and equal steps keep them equal, so a difference is a bug, not noise."""
    if not context.distributed:
        return
    checksum = torch.stack([p.detach().double().sum() for p in module.parameters()]).sum().reshape(1)
    low, high = checksum.clone(), checksum.clone()
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    if (high - low).abs().item() > 1e-6 * max(1.0, checksum.abs().item()):
        raise RuntimeError(f"rank {context.rank}: replicas out of sync (parameter checksums {low.item()} to {high.item()})")


def barrier(context: Context) -> None:
    if context.distributed:
        dist.barrier()
