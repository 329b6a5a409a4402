"""A training step without the launch tax: forward and backward replayed as one CUDA graph.

A search candidate is dozens of small BN-activation-conv layers trained at
batch 128: eager PyTorch issues about a thousand kernel launches per step and
the GPU waits for Python between them (on one H200 the NSGA-Net seed reached
~6 % of the card's bf16 peak, and bf16 was slower than fp32 because autocast
adds a cast kernel per weight). :class:`GraphedStep` records the forward pass,
the fp32 loss and the backward pass once, then replays them with one launch per
step. What stays eager is small and changes per step: the batch gather and the
augmentation (a dozen launches, their random numbers from the trainer's own
generator), and the optimizer step, which keeps its Python-float learning rate
(the schedule) and runs as torch's *fused* kernels where the optimizer has one
(SGD, Adam): a few launches for all parameters.

Choices kept visible:

* Shapes are static: the loop drops the last partial batch
  (:func:`neronet.augment.batches`), so every step of a training has the same
  batch shape; a step of another shape (never produced by the search loop)
  runs eagerly.
* The first :data:`WARMUP_STEPS` steps are ordinary eager steps on a side
  stream (CUDA's rule before a capture: cuDNN/cuBLAS workspaces and the
  optimizer's state exist before recording). They are real training steps, so
  capture costs no training: the graph then replays from step
  ``WARMUP_STEPS + 1`` on. The capture itself runs no kernel.
* Gradients are the graph's static outputs: they are never set to None after
  the capture (the optimizer reads them in place), and each replay overwrites
  them (the capture recorded a write, not an accumulation).
* Autocast runs with its weight-cast cache off, as graph capture requires;
  fp16 with a dynamic ``GradScaler`` (data-dependent skips) is never captured.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

WARMUP_STEPS = 3
"""Eager steps before the capture (PyTorch's documented minimum for whole-network capture)."""


class GraphedStep:
    """Forward + fp32 cross-entropy + backward of ``model``, captured once and replayed.

    ``eager_step(x, y)`` is the caller's ordinary step (used for the warm-up);
    ``optimizer_step()`` applies the gradients the replay left in ``.grad``.
    """

    def __init__(
        self,
        model: nn.Module,
        amp: torch.dtype | None,
        eager_step: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
        optimizer_step: Callable[[], None],
        zero_grad: Callable[[], None],
    ) -> None:
        self.model = model
        self.amp = amp
        self._eager_step = eager_step
        self._optimizer_step = optimizer_step
        self._zero_grad = zero_grad
        self._steps = 0
        self._graph: torch.cuda.CUDAGraph | None = None
        self._x: torch.Tensor | None = None
        self._y: torch.Tensor | None = None
        self._loss: torch.Tensor | None = None
        self._logits: torch.Tensor | None = None
        self._stream: torch.cuda.Stream | None = None

    @property
    def captured(self) -> bool:
        return self._graph is not None

    def step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One training step on ``(x, y)``; returns the loss and logits (valid until the next
        step: they are the graph's static outputs). Streams, capture and replay run on the
        model's GPU whatever the process's current device is (a worker on ``cuda:1``)."""
        with torch.cuda.device(x.device):
            return self._step(x, y)

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._steps += 1
        if self._graph is None and self._steps <= WARMUP_STEPS:
            return self._warmup(x, y)
        if self._graph is None:
            self._capture(x, y)
        assert self._x is not None and self._y is not None and self._graph is not None
        if x.shape != self._x.shape or x.stride() != self._x.stride() or y.shape != self._y.shape:
            return self._eager_step(x, y)
        self._x.copy_(x)
        self._y.copy_(y)
        self._graph.replay()
        self._optimizer_step()
        assert self._loss is not None and self._logits is not None
        return self._loss, self._logits

    def _side_stream(self) -> torch.cuda.Stream:
        if self._stream is None:
            self._stream = torch.cuda.Stream()  # on the model's GPU: step() made it current
        return self._stream

    def _warmup(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        stream = self._side_stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            result = self._eager_step(x, y)
        torch.cuda.current_stream().wait_stream(stream)
        return result

    def _capture(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Record forward, loss and backward on static copies of the first captured batch."""
        self._x, self._y = x.clone(), y.clone()
        self._zero_grad()  # grads None: the capture allocates them as the graph's outputs
        graph = torch.cuda.CUDAGraph()
        torch.cuda.synchronize(x.device)
        # thread-local: other threads' CUDA work (candidates trained side by side in one
        # process, each on its own stream) must not invalidate this capture
        with torch.cuda.graph(graph, stream=self._side_stream(), capture_error_mode="thread_local"):
            with torch.autocast(
                "cuda", dtype=self.amp, enabled=self.amp is not None, cache_enabled=False
            ):
                logits = self.model(self._x)
            loss = F.cross_entropy(logits.float(), self._y)
            loss.backward()
        self._graph = graph
        self._loss, self._logits = loss.detach(), logits.detach()
