"""DistributedDataParallel plumbing: one code path for one CPU, one GPU and ``torchrun`` (many GPUs/nodes).

:func:`setup` reads the environment ``torchrun`` sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``); without
it the run is a single process.  The backend is NCCL when the processes use CUDA, gloo on CPU.  Only the
main process (rank 0) logs, validates and writes checkpoints (:attr:`Dist.is_main`); the others train
their shard of every batch and wait at barriers.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

from ..core.errors import ConfigError


@dataclass(frozen=True)
class Dist:
    rank: int
    world_size: int
    local_rank: int
    device: Any  # torch.device
    backend: str  # "" when not distributed

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    v = os.environ.get(name)
    if v is None or v == "":
        return default
    try:
        return int(v)
    except ValueError:
        raise ConfigError(f"environment variable {name}={v!r} is not an integer") from None


def setup(device: str = "auto", timeout_minutes: float = 30.0) -> Dist:
    """Pick the device and, under torchrun, join the process group (NCCL on CUDA, gloo on CPU)."""
    import torch

    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local = _env_int("LOCAL_RANK", 0)
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("run.device: cuda was asked for, but torch sees no CUDA device "
                          f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'})")
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        n = torch.cuda.device_count()
        if local >= n:
            raise ConfigError(f"LOCAL_RANK {local} but only {n} CUDA device(s) are visible on this node")
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    else:
        dev = torch.device("cpu")
    backend = ""
    if world > 1:
        import torch.distributed as dist

        backend = "nccl" if use_cuda else "gloo"
        if not dist.is_initialized():
            kw = {"device_id": dev} if use_cuda else {}
            dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=timeout_minutes), **kw)
        rank, world = dist.get_rank(), dist.get_world_size()
    return Dist(rank=rank, world_size=world, local_rank=local, device=dev, backend=backend)


def cleanup(d: Dist) -> None:
    if d.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def barrier(d: Dist) -> None:
    if d.distributed:
        import torch.distributed as dist

        if d.backend == "nccl":
            dist.barrier(device_ids=[d.local_rank])
        else:
            dist.barrier()


def all_reduce_sum(d: Dist, values):
    """Sum a float tensor over all processes (in place and returned); a no-op in a single process."""
    if d.distributed:
        import torch.distributed as dist

        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def all_reduce_min(d: Dist, values):
    """Element-wise minimum of a tensor over all processes (in place and returned)."""
    if d.distributed:
        import torch.distributed as dist

        dist.all_reduce(values, op=dist.ReduceOp.MIN)
    return values


def broadcast_object(d: Dist, obj: Any, src: int = 0) -> Any:
    """``obj`` of process ``src`` on every process (pickled)."""
    if not d.distributed:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def unwrap(model):
    """The bare model inside a DistributedDataParallel wrapper (what checkpoints store)."""
    return getattr(model, "module", model)


__all__ = ["Dist", "setup", "cleanup", "barrier", "all_reduce_sum", "all_reduce_min", "broadcast_object", "unwrap"]
