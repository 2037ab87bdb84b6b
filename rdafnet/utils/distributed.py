"""Running one command over several processes with ``torchrun``: rank, shards, gathering.

Outside ``torchrun`` (no ``WORLD_SIZE`` in the environment) everything here is a no-op: rank 0 of 1.
Under it, :func:`setup` joins the process group (NCCL on GPUs, gloo on CPUs), gives each process its
own GPU (``LOCAL_RANK``) or its share of the CPU cores, and :func:`shard` hands each rank a fixed,
interleaved part of the inputs, so results never depend on the number of processes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of the joined process group; (0, 1) when none was joined (:func:`setup`)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def setup(device: str | None = None) -> str | None:
    """Join the ``torchrun`` process group (if launched by it) and return the device this rank uses:
    ``cuda:<LOCAL_RANK>`` when ``device`` is ``cuda``/``auto`` and GPUs exist; ``device`` otherwise. CPU
    ranks on one machine split its cores between them."""
    if int(os.environ.get("WORLD_SIZE", 1)) <= 1 or not dist.is_available():
        return device
    local = int(os.environ.get("LOCAL_RANK", 0))
    use_cuda = device in (None, "auto", "cuda") and torch.cuda.is_available()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(local)
        return f"cuda:{local}"
    per_node = int(os.environ.get("LOCAL_WORLD_SIZE", 1))
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // per_node))
    return "cpu"


def shard(items: Sequence[T]) -> list[T]:
    """This rank's share of ``items``: every world-size-th item from its rank on."""
    rank, world = rank_and_world()
    return list(items[rank::world])


def broadcast(value: T) -> T:
    """Rank 0's ``value`` on every rank (``value`` itself outside ``torchrun``)."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def gather(rows: list[Any]) -> list[Any] | None:
    """Every rank's ``rows`` (in :func:`shard` order) interleaved back into input order on rank 0;
    ``None`` on other ranks. Outside ``torchrun``: ``rows`` itself."""
    rank, world = rank_and_world()
    if world == 1 or not dist.is_initialized():
        return rows
    parts: list[list[Any]] | None = [[] for _ in range(world)] if rank == 0 else None
    dist.gather_object(rows, parts, dst=0)
    if parts is None:  # not rank 0
        return None
    merged: list[Any] = []
    for i in range(max(len(p) for p in parts)):
        merged += [p[i] for p in parts if i < len(p)]
    return merged


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
