"""A capsule network with dynamic routing (Sabour, Frosst and Hinton, NIPS 2017): the
paper's "CapsNet" source.

The architecture is the RAS authors' CIFAR-10 CapsNet (DualQualityAssessment,
``code/networks/cifar/capsnet.py``): a 256-filter convolution (kernel 8, ReLU), primary
capsules from a 256-filter convolution (kernel 9, stride 2) read as 32 types of 8-d
vectors per position and squashed, 16-d class capsules by 3 routing iterations, and the
capsule lengths as the output (the class scores the attacks read). Smaller images get
smaller kernels, ``min(8, side // 4)`` then ``min(9, side' - 2)``, so that the primary
capsules keep a grid of at least 2 x 2 (on 32 x 32 the authors' 8 and 9 result).

Routing is Sabour et al.'s: logits start at zero for every image and every forward pass.
(The authors' Keras layer keeps them in a variable that accumulates across batches.)

Training (:func:`train_capsnet`) is the authors': margin loss (m+ 0.9, m- 0.1, down-weight
0.5) plus 0.1 x the mean squared error of a reconstruction decoder (512, 1024, then one
sigmoid unit per input value) fed the true class's capsule, Adam at 1e-3 x
``exp(-epoch / 10)``, flip-and-shift augmentation. Not a spec network (capsules are not in
neronet's layer vocabulary), so it has its own small loop; the weights are written once,
at the end (a killed training restarts, deterministically, from scratch).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from torch import nn

from neronet.artifact import safetensors_bytes
from neronet.augment import DeviceSplit, augment, batches, to_float
from neronet.store import atomic_write

FILTERS = 256
PRIMARY_TYPES = 32
PRIMARY_DIM = 8
CLASS_DIM = 16
ROUTINGS = 3
MARGINS = (0.9, 0.1, 0.5)
"""m+, m- and the weight of the absent classes' term (Sabour et al.'s values)."""
RECONSTRUCTION_WEIGHT = 0.1
LEARNING_RATE = 1e-3
MODEL_FILE = "model.safetensors"


def squash(s: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Sabour et al.'s non-linearity: the direction of ``s`` with length ``|s|^2 / (1 + |s|^2)``."""
    norm2 = (s * s).sum(dim=dim, keepdim=True)
    return s * (norm2 / (1 + norm2) / torch.sqrt(norm2 + 1e-7))


def kernels(side: int) -> tuple[int, int]:
    """The two convolutions' kernels for ``side`` x ``side`` images (see the module note)."""
    first = max(1, min(8, side // 4))
    return first, max(1, min(9, side - first + 1 - 2))


class CapsNet(nn.Module):
    """Convolution, primary capsules, routed class capsules; ``forward`` gives their lengths."""

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        num_classes: int,
        filters: int = FILTERS,
        primary_types: int = PRIMARY_TYPES,
    ) -> None:
        super().__init__()
        channels, height, width = input_shape
        k1, k2 = kernels(min(height, width))
        self.conv = nn.Conv2d(channels, filters, k1)
        self.primary = nn.Conv2d(filters, primary_types * PRIMARY_DIM, k2, stride=2)
        grid = [((side - k1 + 1) - k2) // 2 + 1 for side in (height, width)]
        inputs = primary_types * grid[0] * grid[1]
        self.weights = nn.Parameter(0.05 * torch.randn(inputs, num_classes, CLASS_DIM, PRIMARY_DIM))
        self.decoder = nn.Sequential(
            nn.Linear(CLASS_DIM, 512),
            nn.ReLU(),
            nn.Linear(512, 1024),
            nn.ReLU(),
            nn.Linear(1024, channels * height * width),
            nn.Sigmoid(),
        )

    def capsules(self, x: torch.Tensor) -> torch.Tensor:
        """Class capsules (N, classes, 16) of ``[0, 1]`` images (N, C, H, W)."""
        p = self.primary(F.relu(self.conv(x)))  # N, types * 8, h, w
        n = p.shape[0]
        u = squash(p.view(n, -1, PRIMARY_DIM, *p.shape[2:]).permute(0, 1, 3, 4, 2).flatten(1, 3))
        u_hat = torch.einsum("ijdk,nik->nijd", self.weights, u)  # N, inputs, classes, 16
        logits = u_hat.new_zeros(u_hat.shape[:3])
        for iteration in range(ROUTINGS):
            v = squash((logits.softmax(dim=2).unsqueeze(-1) * u_hat).sum(dim=1))
            if iteration < ROUTINGS - 1:
                logits = logits + (u_hat * v.unsqueeze(1)).sum(dim=-1)
        return v

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sqrt((self.capsules(x) ** 2).sum(dim=-1) + 1e-7)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Margin loss plus the weighted reconstruction error from the true class's capsule."""
        v = self.capsules(x)
        lengths = torch.sqrt((v**2).sum(dim=-1) + 1e-7)
        present = F.one_hot(y, lengths.shape[1]).float()
        upper, lower, weight = MARGINS
        margin = present * F.relu(upper - lengths) ** 2
        margin = margin + weight * (1 - present) * F.relu(lengths - lower) ** 2
        recon = self.decoder(v[torch.arange(len(y), device=y.device), y])
        mse = F.mse_loss(recon, x.flatten(1))
        return margin.sum(dim=1).mean() + RECONSTRUCTION_WEIGHT * mse


def train_capsnet(
    model: CapsNet, train: DeviceSplit, *, epochs: int, batch_size: int, seed: int, out: Path
) -> CapsNet:
    """Train ``model`` (freshly built) on ``train``, on its device, or read back the weights
    ``out`` holds from the same network and settings; the weights go to
    ``out/model.safetensors``. Returns ``model``, in eval mode."""
    shapes = {name: list(value.shape) for name, value in model.state_dict().items()}
    record = {"shapes": shapes, "epochs": epochs, "batch_size": batch_size, "seed": seed}
    record["data"] = _digest(train)
    path = out / MODEL_FILE
    device = train.x.device
    model.to(device)
    if _recorded(path) == record:
        model.load_state_dict(load_file(str(path), device=str(device)))
        return model.eval()
    optimiser = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    gen = torch.Generator(device=device).manual_seed(seed)
    model.train()
    for epoch in range(epochs):
        for group in optimiser.param_groups:
            group["lr"] = LEARNING_RATE * math.exp(-epoch / 10)
        for idx in batches(len(train), batch_size, gen, device):
            optimiser.zero_grad(set_to_none=True)
            model.loss(to_float(augment(train.x[idx], gen)), train.y[idx]).backward()
            optimiser.step()
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(path, safetensors_bytes(weights, {"capsnet": json.dumps(record)}))
    return model.eval()


def _digest(split: DeviceSplit) -> str:
    """SHA-256 of the training images and labels: a finished training is reused only on them."""
    digest = hashlib.sha256(split.x.cpu().numpy().tobytes())
    digest.update(split.y.cpu().numpy().tobytes())
    return digest.hexdigest()


def _recorded(path: Path) -> dict | None:
    """The settings a finished training at ``path`` was made with; None if none (or unreadable)."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            return json.loads((handle.metadata() or {}).get("capsnet", "null"))
    except (OSError, SafetensorError, json.JSONDecodeError):
        return None
