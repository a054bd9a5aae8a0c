"""Adversarial pieces shared by the objectives: a PatchGAN discriminator, the GAN losses, an image pool.

:class:`PatchDiscriminator` is pix2pix's: with ``layers=3`` it is the 70 x 70 PatchGAN (three stride-2
4x4 convolutions, one stride-1, one output convolution; a norm after all but the first).  It takes any
number of input channels: an objective concatenates what the discriminator should judge (the
normalized source bands, the candidate output, condition planes such as a one-hot target class).
``norm="instance_affine"`` (the ``translation`` objective's) uses instance norm with a learned scale
and no biases; ``"batch"`` and ``"instance"`` are the reference code's (batch norm; instance norm
without a learned scale, with biases) for the ``pix2pix`` and ``cyclegan`` objectives.

:class:`ImagePool` is CycleGAN's history of generated images (Shrivastava et al. 2017): the discriminator
is updated with a mix of the newest fakes and older ones, with its own random stream, so that its state
(the images and the stream) can be checkpointed and a resumed run continues exactly.
"""

from __future__ import annotations

from typing import Any, Dict, List, Literal, Mapping, Optional

import torch
from torch import nn
from torch.nn import functional as F

from ..core.models.fixed_bands import init_normal


class PatchDiscriminator(nn.Module):
    def __init__(self, in_channels: int, width: int = 64, layers: int = 3,
                 norm: Literal["instance_affine", "instance", "batch"] = "instance_affine",
                 init_gain: Optional[float] = None):
        super().__init__()
        seq = [nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        ch = width
        for i in range(1, layers + 1):
            nxt = width * min(2 ** i, 8)
            stride = 2 if i < layers else 1
            seq += [nn.Conv2d(ch, nxt, 4, stride, 1, bias=norm == "instance"), _norm(norm, nxt),
                    nn.LeakyReLU(0.2, True)]
            ch = nxt
        seq += [nn.Conv2d(ch, 1, 4, 1, 1)]
        self.net = nn.Sequential(*seq)
        self.min_input = 3 * 2 ** layers  # its last norm then sees 2 x 2 values
        if init_gain is not None:
            init_normal(self, init_gain)

    def check_input(self, size: int, what: str) -> None:
        """Refuse chips too small for this discriminator (a norm over a single value), naming the key."""
        if size < self.min_input:
            from ..core.errors import ConfigError

            raise ConfigError(f"data.chip_size: {size} px chips are too small for {what}; it needs at least "
                              f"{self.min_input} px")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _norm(norm: str, channels: int) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if norm == "instance_affine":
        return nn.InstanceNorm2d(channels, affine=True)
    raise ValueError(f"discriminator norm must be instance_affine, instance or batch, got {norm!r}")


def discriminator_input(sources: torch.Tensor, candidate: torch.Tensor,
                        condition: Optional[torch.Tensor]) -> torch.Tensor:
    """``[sources | candidate | condition planes]`` along channels (``condition`` [N, K] broadcast to planes)."""
    parts = [sources, candidate]
    if condition is not None:
        n, _, h, w = candidate.shape
        parts.append(condition.to(candidate.dtype)[:, :, None, None].expand(n, condition.shape[1], h, w))
    return torch.cat(parts, dim=1)


def gan_loss(logits: torch.Tensor, real: bool, mode: Literal["lsgan", "vanilla"]) -> torch.Tensor:
    """pix2pix's GAN objective on patch logits: least squares (LSGAN) or binary cross-entropy."""
    want = torch.ones_like(logits) if real else torch.zeros_like(logits)
    if mode == "lsgan":
        return F.mse_loss(logits, want)
    return F.binary_cross_entropy_with_logits(logits, want)


class ImagePool:
    """A history of up to ``size`` generated images (``size`` 0: no history, the newest are returned).

    :meth:`query` with a batch returns a batch of the same size: while the pool fills, the new images
    themselves (each is stored); then each item is, with probability 1/2, the new image, else a stored
    one chosen uniformly, which the new image replaces.  The draws come from the pool's own generator.
    """

    def __init__(self, size: int, seed: int):
        if size < 0:
            raise ValueError(f"pool size must be >= 0, got {size}")
        self.size = size
        self.images: List[torch.Tensor] = []
        self.rng = torch.Generator().manual_seed(int(seed))

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif float(torch.rand((), generator=self.rng)) > 0.5:
                i = int(torch.randint(self.size, (), generator=self.rng))
                out.append(self.images[i])
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self) -> Dict[str, Any]:
        """The stored images (``[n, C, H, W]`` on the CPU) and the generator state: plain tensors."""
        images = torch.stack(self.images).cpu() if self.images else torch.zeros(0)
        return {"size": self.size, "images": images, "rng": self.rng.get_state()}

    def load_state_dict(self, state: Mapping[str, Any], device: Any = "cpu") -> None:
        if int(state["size"]) != self.size:
            raise ValueError(f"image pool of size {state['size']} in the checkpoint, this objective's is {self.size}")
        images = state["images"]
        self.images = [im.to(device) for im in images] if images.numel() else []
        self.rng.set_state(state["rng"])


__all__ = ["PatchDiscriminator", "ImagePool", "discriminator_input", "gan_loss"]
