"""Search-time training, the store's keep policy and where the evaluations run
(``training``, ``store``, ``executor``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from neronet.config.core import Augmentation, Bool, Float, Int, Mode, Placement, StrictSection
from neronet.limits import MAX_PARAMETERS


class TrainingConfig(Placement, Augmentation):
    """Search-time training of every candidate (where and how it runs: :class:`Placement`)."""

    max_epochs: Int | None = Field(default=None, ge=1, description="epoch cap on top of time")
    # PyTorch convention: grad += w * theta. Keras' kernel_regularizer=l2(lam) adds
    # lam * sum(theta^2) to the loss, i.e. w = 2 * lam. The paper's value is lost; its
    # source of truth is Fast-DENSER's Keras l2(5e-4) on conv/fc kernels, so w = 1e-3.
    weight_decay: Float = Field(
        default=1e-3,
        ge=0,
        description="L2 on conv/fc kernels as PyTorch weight_decay w (= 2 x Keras l2 lambda)",
    )
    schedule: Literal["inverse_time", "cosine"] = Field(
        default="inverse_time",
        description="lr schedule: inverse_time = the paper's lr / (1 + decay * step); cosine = "
        "a tenth of the budget warming up, then cosine to 0 when the budget ends",
    )
    compile: Mode = Field(
        default="auto",
        description="how a training step reaches the device: graphs = forward and backward "
        "replayed as one CUDA graph, compile = torch.compile, off = eager; auto: graphs on "
        "CUDA, off on the CPU",
    )
    max_parameters: Int = Field(
        default=MAX_PARAMETERS,
        ge=1,
        description="architectures with more trainable parameters are invalid, never allocated",
    )


class StoreConfig(StrictSection):
    keep_best: Int = Field(default=5, ge=1, description="weights kept besides generation parents")
    memo: str | None = Field(
        default=None,
        description="directory of evaluations shared between runs (neronet experiment sets "
        "it): a candidate trained by another run the same way (network, learning, budget, "
        "seed, data, settings, device, threads) is read from it, not trained again; budgets "
        "of epochs or images only. Entries (weights and training state, megabytes each) "
        "stay until the directory is deleted: neronet experiment drops a run index's once "
        "every method has finished it, a study of your own never does",
    )


class ExecutorConfig(StrictSection):
    kind: str = Field(
        default="local",
        description="a registered executor (neronet.execution.EXECUTORS: local, workers, ray, "
        "or an installed plug-in's; checked by check_plugins)",
    )
    devices: list[str] = Field(default_factory=list, description="worker devices (workers)")
    address: str | None = None
    num_gpus: Float = Field(default=1.0, ge=0)
    num_cpus: Float = Field(default=1.0, gt=0)
    workers: Int | None = Field(
        default=None,
        ge=1,
        description="worker processes / Ray actors (default: one per device or GPU; 2 on CPU)",
    )
    workers_per_device: Int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="workers: candidates evaluated at once on each device (several share a "
        "GPU under a memory guard; see docs/DISTRIBUTED.md)",
    )
    mps: Bool = Field(
        default=False,
        description="workers: run a private CUDA MPS daemon so candidates sharing a GPU "
        "run their kernels side by side instead of time-sliced",
    )
    threads: Int | None = Field(
        default=None,
        ge=1,
        description="torch CPU threads per worker (default: cores shared out; Ray: num_cpus)",
    )
    max_retries: Int = Field(
        default=1, ge=0, description="re-queues of an individual whose worker died"
    )
    ship_data: Bool = Field(
        default=False,
        description="Ray: load data in the search process, share it via the object store",
    )

    @model_validator(mode="after")
    def _one_count(self) -> ExecutorConfig:
        if self.workers is not None and self.workers_per_device is not None:
            raise ValueError(
                "executor.workers and executor.workers_per_device both set; set one: the "
                "total number of workers, or how many share each device"
            )
        if self.mps and self.kind != "workers":
            raise ValueError(
                f"executor.mps starts the daemon of a workers pool, not of {self.kind!r}; "
                "set executor.kind=workers or executor.mps=false"
            )
        return self
