"""Feature squeezing (Xu, Evans and Qi, NDSS 2018) in front of a classifier: the paper's
"FS" source, feature squeezing defending ResNet.

Two squeezers, applied in this order to the ``[0, 1]`` image:

* bit-depth reduction to ``bits`` bits per value: ``round(x * (2^bits - 1)) / (2^bits - 1)``;
* median smoothing over a ``size x size`` window per channel (``size`` 1: none), the window
  and rank of SciPy's ``median_filter`` that Xu et al. use: for an even size the window
  reaches one pixel further up and left, and the median of an even count is the upper
  of the two middle values; edge pixels are repeated (SciPy's ``reflect`` for windows up
  to 3).

The RAS authors' code (DualQualityAssessment, ``code/networks/model.py``) squeezes to 5
bits without smoothing, in front of the undefended model's weights (no retraining);
those are the defaults. (Their code squeezes the *standardised* image clipped to [0, 1];
here the image itself is squeezed, as Xu et al. define it.)

The rounding passes gradients straight through (BPDA, Athalye et al. 2018), so the
optional white-box PGD against this source is not stopped by a zero gradient.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def reduce_bit_depth(x: torch.Tensor, bits: int) -> torch.Tensor:
    """``x`` in ``[0, 1]`` quantised to ``2^bits`` levels (identity gradient)."""
    levels = 2**bits - 1
    squeezed = torch.round(x.clamp(0, 1) * levels) / levels
    return x + (squeezed - x).detach()


def median_smooth(x: torch.Tensor, size: int) -> torch.Tensor:
    """Per-channel median of every ``size x size`` window of ``x`` (N, C, H, W)."""
    if size == 1:
        return x
    before, after = size // 2, size - 1 - size // 2
    padded = F.pad(x, (before, after, before, after), mode="replicate")
    windows = padded.unfold(2, size, 1).unfold(3, size, 1).flatten(-2)  # N, C, H, W, size^2
    return windows.sort(dim=-1).values[..., size * size // 2]


class FeatureSqueezing(nn.Module):
    """``classifier`` seeing only the squeezed image."""

    def __init__(self, classifier: nn.Module, bits: int, median: int) -> None:
        super().__init__()
        if not (1 <= bits <= 8 and median >= 1):
            raise ValueError("feature squeezing needs 1 <= bits <= 8 and a median size >= 1")
        self.classifier = classifier
        self.bits = bits
        self.median = median

    def squeeze(self, x: torch.Tensor) -> torch.Tensor:
        return median_smooth(reduce_bit_depth(x, self.bits), self.median)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.squeeze(x))
