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


def average_tensors(d: Dist, tensors) -> None:
    """Replace each tensor by its mean over all processes (one all-reduce of their concatenation; in
    place; a no-op in a single process).  Objectives that sync gradients themselves use it."""
    tensors = list(tensors)
    if not d.distributed or not tensors:
        return
    import torch
    import torch.distributed as dist

    flat = torch.cat([t.reshape(-1).to(torch.float32) for t in tensors])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= d.world_size
    offset = 0
    for t in tensors:
        n = t.numel()
        t.copy_(flat[offset:offset + n].reshape(t.shape).to(t.dtype))
        offset += n


def broadcast_tensors(d: Dist, tensors, src: int = 0) -> None:
    """Overwrite each tensor with process ``src``'s values (in place; a no-op in a single process)."""
    if not d.distributed:
        return
    import torch.distributed as dist

    for t in tensors:
        dist.broadcast(t.data, src=src)


def all_gather_object(d: Dist, obj: Any) -> list:
    """Every process's ``obj``, in rank order (pickled; ``[obj]`` in a single process)."""
    if not d.distributed:
        return [obj]
    import torch.distributed as dist

    out = [None] * d.world_size
    dist.all_gather_object(out, obj)
    return out


def unwrap(model):
    """The bare model inside a DistributedDataParallel wrapper (what checkpoints store)."""
    return getattr(model, "module", model)


__all__ = ["Dist", "setup", "cleanup", "barrier", "all_reduce_sum", "all_reduce_min", "broadcast_object",
           "average_tensors", "broadcast_tensors", "all_gather_object", "unwrap"]
