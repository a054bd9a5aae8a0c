"""Building blocks shared by the model families (PyTorch).

Conditioning is passed explicitly: every conditional block takes ``forward(x, cond)`` with ``cond`` a
``[N, D]`` code, one row per batch item, so one batch may mix conditions (several target bands).

* :class:`ConditionalInstanceNorm2d`: instance norm whose per-channel (gamma, beta) come from ``cond``;
* :class:`ConvNormAct`: 3x3 convolution (optionally stride 2) -> conditional instance norm -> LeakyReLU;
* :class:`ConditionalPointwise`: a 1x1 convolution whose weights are generated per item from ``cond``;
* :class:`MLP`: two linear layers with a LeakyReLU between them (condition encoders);
* :func:`count_macs`: multiply-accumulates of every Conv2d / Linear / conditional 1x1 in one forward,
  counted with forward hooks (how ``docs/models.md`` measures FLOPs per pixel).

Everything here exports to ONNX (opset 17) with dynamic batch, height and width.
"""

from __future__ import annotations

from typing import Callable, Dict, Sequence

import torch
from torch import nn
from torch.nn import functional as F

PADDING_MODES = ("reflect", "replicate", "zeros")


class ConditionalInstanceNorm2d(nn.Module):
    """``InstanceNorm(x) * (1 + gamma(cond)) + beta(cond)`` with gamma, beta linear in ``cond``.

    The projection starts small (N(0, init_std)), so a fresh layer is close to a plain instance norm
    but already depends on its condition.
    """

    def __init__(self, channels: int, cond_dim: int, eps: float = 1e-5, init_std: float = 0.02):
        super().__init__()
        self.channels = channels
        self.norm = nn.InstanceNorm2d(channels, affine=False, track_running_stats=False, eps=eps)
        self.proj = nn.Linear(cond_dim, 2 * channels)
        nn.init.normal_(self.proj.weight, std=init_std)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        gb = self.proj(cond)
        gamma = gb[:, : self.channels, None, None]
        beta = gb[:, self.channels:, None, None]
        return self.norm(x) * (1.0 + gamma) + beta


class ConvNormAct(nn.Module):
    """3x3 convolution -> conditional instance norm -> LeakyReLU.

    ``stride=2`` halves height and width (inputs must be even).  The convolution has no bias (the norm
    removes it anyway).
    """

    def __init__(self, in_ch: int, out_ch: int, cond_dim: int, stride: int = 1, padding_mode: str = "reflect",
                 negative_slope: float = 0.2):
        super().__init__()
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {', '.join(PADDING_MODES)}, got {padding_mode!r}")
        self.conv = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False, padding_mode=padding_mode)
        self.norm = ConditionalInstanceNorm2d(out_ch, cond_dim)
        self.negative_slope = negative_slope

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.norm(self.conv(x), cond), self.negative_slope)


class ConditionalPointwise(nn.Module):
    """A 1x1 convolution ``in_ch -> out_ch`` whose weights and bias are generated from ``cond`` per item.

    ``y[n] = W(cond[n]) @ x[n] + b(cond[n])``: one small hypernetwork (a linear layer) produces the
    ``out_ch x (in_ch + 1)`` numbers.  Starts near zero output (N(0, init_std) projection).
    """

    def __init__(self, in_ch: int, out_ch: int, cond_dim: int, init_std: float = 0.02):
        super().__init__()
        self.in_ch, self.out_ch = in_ch, out_ch
        self.proj = nn.Linear(cond_dim, out_ch * (in_ch + 1))
        nn.init.normal_(self.proj.weight, std=init_std)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        wb = self.proj(cond).reshape(n, self.out_ch, self.in_ch + 1)
        y = torch.matmul(wb[:, :, : self.in_ch], x.reshape(n, self.in_ch, h * w))  # [N, out, H*W]
        y = y + wb[:, :, self.in_ch:]
        return y.reshape(n, self.out_ch, h, w)


class MLP(nn.Module):
    """``Linear -> LeakyReLU -> Linear`` (used to turn band embeddings into condition codes)."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 0, negative_slope: float = 0.2):
        super().__init__()
        hidden = hidden or out_dim
        self.fc1 = nn.Linear(in_dim, hidden)
        self.fc2 = nn.Linear(hidden, out_dim)
        self.negative_slope = negative_slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.leaky_relu(self.fc1(x), self.negative_slope))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, inputs: Sequence[torch.Tensor]) -> Dict[str, int]:
    """Multiply-accumulates of one forward pass over ``inputs``, counted with forward hooks.

    Counts ``nn.Conv2d`` (output elements x in_ch/groups x kernel area), ``nn.Linear`` (output
    elements x in_features) and :class:`ConditionalPointwise` (its per-pixel matmul; its hypernetwork
    Linear is counted as a Linear).  Norms, activations, resampling and elementwise arithmetic are
    not counted (they are a few operations per element).  Returns per-kind totals and ``total``.
    """
    counts = {"conv2d": 0, "linear": 0, "pointwise": 0}
    handles = []

    def hook(kind: str, fn: Callable) -> Callable:
        def _h(mod, inp, out):
            counts[kind] += int(fn(mod, inp, out))
        return _h

    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(hook("conv2d", lambda m, i, o: o.numel() * (
                m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1])))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(hook("linear", lambda m, i, o: o.numel() * m.in_features)))
        elif isinstance(m, ConditionalPointwise):
            handles.append(m.register_forward_hook(hook("pointwise", lambda m, i, o: o.numel() * (m.in_ch + 1))))
    try:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            model(*inputs)
        model.train(was_training)
    finally:
        for h in handles:
            h.remove()
    counts["total"] = sum(counts.values())
    return counts


__all__ = ["ConditionalInstanceNorm2d", "ConvNormAct", "ConditionalPointwise", "MLP", "count_parameters",
           "count_macs", "PADDING_MODES"]
