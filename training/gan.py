"""Adversarial pieces shared by the objectives: a PatchGAN discriminator and the GAN losses.

:class:`PatchDiscriminator` is pix2pix's: with ``layers=3`` it is the 70 x 70 PatchGAN (three stride-2
4x4 convolutions, one stride-1, one output convolution; instance norm after all but the first).  It
takes any number of input channels: an objective concatenates what the discriminator should judge (the
normalized source bands, the candidate output, condition planes such as a one-hot target class).
"""

from __future__ import annotations

from typing import Literal, Optional

import torch
from torch import nn
from torch.nn import functional as F


class PatchDiscriminator(nn.Module):
    def __init__(self, in_channels: int, width: int = 64, layers: int = 3):
        super().__init__()
        seq = [nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        ch = width
        for i in range(1, layers + 1):
            nxt = width * min(2 ** i, 8)
            stride = 2 if i < layers else 1
            seq += [nn.Conv2d(ch, nxt, 4, stride, 1, bias=False), nn.InstanceNorm2d(nxt, affine=True),
                    nn.LeakyReLU(0.2, True)]
            ch = nxt
        seq += [nn.Conv2d(ch, 1, 4, 1, 1)]
        self.net = nn.Sequential(*seq)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


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


__all__ = ["PatchDiscriminator", "discriminator_input", "gan_loss"]
