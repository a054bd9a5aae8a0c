"""One sink for what a training run reports: ``log.jsonl``, TensorBoard and the progress bar (rank 0).

The trainer hands it plain numbers at the cadence it already syncs at (log steps, validations,
checkpoints); the sink writes every record to each destination it has, so the three never disagree.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Mapping, Optional

import numpy as np

from ..core.errors import ConfigError


class RunLog:
    """Writes train / validation / checkpoint events; a no-op on processes other than rank 0."""

    def __init__(self, run_dir: str, enabled: bool, tensorboard: bool, progress, start_step: int):
        self.enabled = enabled
        self.progress = progress
        self.file = None
        self.writer = None
        if not enabled:
            return
        self.file = open(os.path.join(run_dir, "log.jsonl"), "a", encoding="utf-8")
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:
                raise ConfigError(f"run.tensorboard: TensorBoard is not installed ({exc}); install the train "
                                  "extra or set run.tensorboard=false") from None
            self.writer = SummaryWriter(os.path.join(run_dir, "tb"), purge_step=start_step if start_step else None)

    def _write(self, record: Mapping[str, Any]) -> None:
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()

    def train(self, step: int, scalars: Mapping[str, float]) -> None:
        """One train record: mean losses of the window, lr, samples/s, data share."""
        if not self.enabled:
            return
        self._write({"event": "train", "step": step, **scalars})
        if self.writer is not None:
            names = {"l1": "l1_normalized", "adv": "adversarial", "disc": "discriminator"}
            for k, v in scalars.items():
                self.writer.add_scalar(f"train/{names.get(k, k)}", v, step)
        sps = scalars.get("samples_per_s", float("nan"))
        self.progress.update(step, f"loss {scalars['loss']:.4f} lr {scalars['lr']:.2e} {sps:.1f} samples/s")

    def validation(self, step: int, metrics: Mapping[str, Any], images: Optional[Mapping[str, np.ndarray]] = None) -> None:
        if not self.enabled:
            return
        self._write({"event": "validation", "step": step, "mean_rmse": metrics["mean_rmse"],
                     "mean_rmse_norm": metrics["mean_rmse_norm"],
                     "per_target": {k: v["rmse"] for k, v in metrics["per_target"].items()}})
        if self.writer is not None:
            self.writer.add_scalar("val/mean_rmse", metrics["mean_rmse"], step)
            self.writer.add_scalar("val/mean_rmse_norm", metrics["mean_rmse_norm"], step)
            for k, v in metrics["per_target"].items():
                for mk in ("rmse", "ssim"):
                    self.writer.add_scalar(f"val_{mk}/{k}", v[mk], step)
            for k, img in (images or {}).items():
                self.writer.add_image(f"images/{k} (input | synthesized | real)", img, step)

    def checkpoint(self, step: int, path: str) -> None:
        if self.enabled:
            self._write({"event": "checkpoint", "step": step, "path": path})

    def close(self) -> None:
        if not self.enabled:
            return
        self.progress.close()
        if self.writer is not None:
            self.writer.close()
        self.file.close()


def window_means(sums: Dict[str, Any], n: int) -> Dict[str, float]:
    """Device-side sums of a logging window -> Python means (the one host sync of a log step)."""
    import torch

    if not sums:
        return {}
    keys = sorted(sums)
    values = torch.stack([sums[k].float() for k in keys]).cpu().tolist()  # one transfer for all scalars
    return {k: v / max(n, 1) for k, v in zip(keys, values)}


__all__ = ["RunLog", "window_means"]
