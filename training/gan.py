"""The optional adversarial loss: a pix2pix-style PatchGAN discriminator, conditioned on the task.

The discriminator sees what the generator saw and what it produced: the normalized source bands (absent
classes zero, 15 channels), the candidate target band (normalized with the target class's statistics,
1 channel) and the target class as 15 one-hot planes, so one discriminator judges every band pair.
With ``layers=3`` it is the 70 x 70 PatchGAN of pix2pix (three stride-2 4x4 convolutions, one stride-1,
one output convolution; instance norm after all but the first).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from ..core.bands import NUM_CLASSES


class PatchDiscriminator(nn.Module):
    def __init__(self, width: int = 64, layers: int = 3):
        super().__init__()
        cin = NUM_CLASSES + 1 + NUM_CLASSES
        seq = [nn.Conv2d(cin, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        ch = width
        for i in range(1, layers + 1):
            nxt = width * min(2 ** i, 8)
            stride = 2 if i < layers else 1
            seq += [nn.Conv2d(ch, nxt, 4, stride, 1, bias=False), nn.InstanceNorm2d(nxt, affine=True),
                    nn.LeakyReLU(0.2, True)]
            ch = nxt
        seq += [nn.Conv2d(ch, 1, 4, 1, 1)]
        self.net = nn.Sequential(*seq)

    def forward(self, sources: torch.Tensor, candidate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        n, _, h, w = candidate.shape
        onehot = F.one_hot(target, NUM_CLASSES).to(candidate.dtype)[:, :, None, None].expand(n, NUM_CLASSES, h, w)
        return self.net(torch.cat([sources, candidate, onehot], dim=1))


def gan_loss(logits: torch.Tensor, real: bool, mode: Literal["lsgan", "vanilla"]) -> torch.Tensor:
    """pix2pix's GAN objective on patch logits: least squares (LSGAN) or binary cross-entropy."""
    want = torch.ones_like(logits) if real else torch.zeros_like(logits)
    if mode == "lsgan":
        return F.mse_loss(logits, want)
    return F.binary_cross_entropy_with_logits(logits, want)


__all__ = ["PatchDiscriminator", "gan_loss"]
