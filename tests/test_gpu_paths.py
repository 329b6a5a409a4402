"""What of "fill the GPU" can be checked without one: how a step mode, a budget unit and a
device share are chosen, refused and said; the memory guard's scheduling; the note on a
dead generation. The CUDA-graph replay itself is checked by bench/gpu_check.py on a GPU
(its weights after 30 steps equal eager training's)."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import pytest
import torch
from helpers_executors import request, tiny_config

from neronet.cli import main as neronet
from neronet.config import ExecutorConfig, NeroConfig, load_config, parse_config
from neronet.errors import ConfigError
from neronet.evaluation.result import Evaluation
from neronet.execution.base import EvalRequest
from neronet.execution.scheduling import MEMORY_HEADROOM, Done, Event, Slot, SlotExecutor
from neronet.execution.worker import EvaluationContext
from neronet.execution.workers import pool_devices
from neronet.progress import search_plan
from neronet.search.health import SEED_ADVICE, dead_generation_note
from neronet.store import RunStore
from neronet.train.core import resolve_step_mode

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def test_auto_captures_graphs_on_cuda_and_runs_eagerly_on_the_cpu() -> None:
    assert resolve_step_mode("auto", CUDA, torch.bfloat16) == "graphs"
    assert resolve_step_mode("auto", CUDA, None) == "graphs"
    assert resolve_step_mode("auto", CUDA, torch.float16) == "eager"  # loss scaling skips steps
    assert resolve_step_mode("auto", CPU, None) == "eager"
    assert resolve_step_mode("off", CUDA, torch.bfloat16) == "eager"
    assert resolve_step_mode("compile", CPU, None) == "compile"
    with pytest.raises(ConfigError, match="compile=graphs needs a CUDA device, not cpu"):
        resolve_step_mode("graphs", CPU, None)
    with pytest.raises(ConfigError, match="cannot capture fp16"):
        resolve_step_mode("graphs", CUDA, torch.float16)


def test_a_step_mode_the_device_cannot_run_fails_before_any_data_loads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = tiny_config("training.compile=graphs")
    monkeypatch.setattr(
        "neronet.execution.worker.load_splits", lambda _: pytest.fail("data loaded")
    )
    with pytest.raises(ConfigError, match=r"training\.compile=graphs needs a CUDA device"):
        EvaluationContext.from_config(config)


def test_a_yaml_off_means_off_for_amp_and_compile() -> None:
    training = load_config(None, ["training.amp=off", "training.compile=off"]).training
    assert (training.amp, training.compile) == ("off", "off")


def test_budgets_in_epochs_or_images_need_their_own_amounts() -> None:
    with pytest.raises(ConfigError, match=r"set search\.default_train_time and search\.max_train"):
        parse_config({"search": {"budget": "epochs"}}, "test")  # the paper's 600 s do not apply
    with pytest.raises(ConfigError, match="whole epochs"):
        load_config(
            None,
            ["search.budget=epochs", "search.default_train_time=2.5", "search.max_train_time=5"],
        )
    config = load_config(
        None,
        ["search.budget=images", "search.default_train_time=5e4", "search.max_train_time=1e5"],
    )
    assert config.search.budget == "images"


def test_the_plan_says_the_budget_unit_and_how_steps_run() -> None:
    config = load_config(
        None, ["search.budget=epochs", "search.default_train_time=6", "search.max_train_time=12"]
    )
    line = search_plan(config, 30, "cpu")[0]
    assert "at most 8 epochs or 6 epochs (up to 12 epochs when trained longer" in line
    assert "search.budget=epochs" in line and " h of training" not in line
    assert line.endswith("training steps: eager (training.compile=auto)")
    assert "CUDA graphs (training.compile=auto)" in search_plan(config, 30, "cuda")[0]
    assert "auto: CUDA graphs on a GPU" in search_plan(config, 30, "the workers executor")[0]
    cosine = config.model_copy(
        update={"training": config.training.model_copy(update={"schedule": "cosine"})}
    )
    assert "; lr schedule: cosine over each candidate's budget" in search_plan(cosine, 30, "cpu")[0]


def test_workers_per_device_takes_each_device_that_many_times(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert pool_devices(ExecutorConfig(workers_per_device=3)) == ["cuda:0"] * 3 + ["cuda:1"] * 3
    assert pool_devices(ExecutorConfig(devices=["cpu"], workers_per_device=2)) == ["cpu", "cpu"]
    with pytest.raises(ConfigError, match="set one"):
        load_config(None, ["executor.workers=4", "executor.workers_per_device=2"])


class _FakeGpuPool(SlotExecutor):
    """Slots evaluated in-process: a request keyed "big-*" needs more memory than a shared
    slot's cap (it fails with the evaluator's out-of-memory status unless it runs under
    the whole headroom), one keyed "huge-*" more than the card. Records every submission
    and how many tasks ran beside it on its device."""

    def __init__(self, labels: list[str]) -> None:
        super().__init__(max_retries=1)
        self.submitted: list[tuple[str, float | None, int]] = []
        self._done: deque[Event] = deque()
        self._launch([Slot(label) for label in labels])

    def _start(self, slot: Slot) -> None:
        self._ready(slot, 1, ((1, 8, 8), 10))

    def _submit(self, slot: Slot, req: EvalRequest) -> None:
        beside = sum(s.task is not None for s in self._slots if s.label == slot.label) - 1
        self.submitted.append((req.key, req.memory_fraction, beside))
        room = 1.0 if req.memory_fraction is None else req.memory_fraction
        fits = not req.key.startswith("huge") and (
            not req.key.startswith("big") or room >= MEMORY_HEADROOM
        )
        evaluation = (
            Evaluation(status="ok")
            if fits
            else Evaluation(status="invalid", reason="out of memory: CUDA out of memory")
        )
        self._done.append(Done(slot, evaluation, 0.0))

    def _wait(self) -> list[Event]:
        return [self._done.popleft()] if self._done else []


def test_a_candidate_over_its_share_of_a_shared_gpu_runs_again_alone() -> None:
    pool = _FakeGpuPool(["cuda:0", "cuda:0", "cuda:0", "cuda:0"])
    requests = [request(key, i) for i, key in enumerate(["a", "big-b", "c", "d", "e"])]
    results = dict((r.key, ev.status) for r, ev in pool.evaluate(requests))
    assert results == {"a": "ok", "big-b": "ok", "c": "ok", "d": "ok", "e": "ok"}
    share = MEMORY_HEADROOM / 4
    first = [entry for entry in pool.submitted if entry[0] != "big-b" or entry[1] == share]
    assert all(fraction == pytest.approx(share) for _, fraction, _ in first)
    alone = [entry for entry in pool.submitted if entry[0] == "big-b" and entry[1] != share]
    assert alone == [("big-b", MEMORY_HEADROOM, 0)]  # the whole headroom, nobody beside it


def test_a_gpu_of_its_own_and_the_cpu_get_no_memory_cap() -> None:
    pool = _FakeGpuPool(["cuda:0", "cuda:1", "cpu", "cpu"])
    list(pool.evaluate([request(k, i) for i, k in enumerate("abcd")]))
    assert {fraction for _, fraction, _ in pool.submitted} == {None}


def test_out_of_memory_alone_or_on_an_unshared_gpu_is_final() -> None:
    pool = _FakeGpuPool(["cuda:0"])
    [(_, evaluation)] = list(pool.evaluate([request("huge-x", 0)]))
    assert evaluation.out_of_memory and len(pool.submitted) == 1
    shared = _FakeGpuPool(["cuda:0", "cuda:0"])
    [(_, evaluation)] = list(shared.evaluate([request("huge-y", 0)]))
    assert evaluation.out_of_memory
    assert [f for _, f, _ in shared.submitted] == [MEMORY_HEADROOM / 2, MEMORY_HEADROOM]


def test_a_dead_generation_is_said_with_each_learning_unit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # every network predicts one class for more than 1 % of the fitness set: all ill-fitted
    run = tmp_path / "run"
    code = neronet(
        [
            "evolve",
            "--run",
            str(run),
            "search.generations=1",
            "search.initial_size=2",
            "training.max_epochs=1",
            "fitness.ill_fitted_share=0.01",
        ]
    )
    assert code == 0
    err = capsys.readouterr().err
    assert "warning: generation 0: none of its 2 individuals trained healthily" in err
    store = RunStore.open(run, readonly=True)
    events = [message for _, kind, message in store.events() if kind == "dead-generation"]
    rows = store.individuals(0)
    store.close()
    assert len(events) == 1 and all(row.key in events[0] for row in rows)
    learning = rows[0].record["learning"]
    assert f"{learning['optimizer']} lr {learning['lr']:.3g}" in events[0]
    assert "none of its 2 individuals trained healthily" in (run / "run.log").read_text()


def test_no_note_while_one_individual_is_healthy() -> None:
    class Row:
        def __init__(self, status: str) -> None:
            self.key, self.status, self.reason, self.record = "g0/i0", status, None, {}

    assert dead_generation_note(0, [Row("ok"), Row("ill-fitted")]) is None  # type: ignore[list-item]
    note = dead_generation_note(3, [Row("invalid")], SEED_ADVICE)  # type: ignore[list-item]
    assert note is not None and note.startswith("generation 3: none of its 1")
    assert note.endswith(SEED_ADVICE) and "learning unit unknown" in note
    assert dead_generation_note(0, []) is None


def test_an_evaluation_record_carries_its_peak_memory() -> None:
    assert Evaluation(status="ok", peak_memory_bytes=123).to_record()["peak_memory_bytes"] == 123
    assert not Evaluation(status="invalid", reason="invalid architecture: x").out_of_memory


def test_the_gpu_quickstart_config_is_valid_and_alive_from_generation_0() -> None:
    config: NeroConfig = load_config("configs/cifar10-gpu-quick.yaml", [])
    assert config.search.seed_learning == "fixed" and config.search.budget == "epochs"
    assert config.executor.workers_per_device == config.search.initial_size


def test_compile_mode_routes_the_training_forward_through_torch_compile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The plumbing only (a real Inductor compile takes tens of seconds on a CPU; its cost
    and speed on a GPU are in BENCHMARKS.md): the step's forward goes through what
    torch.compile returns, while weights, state dict and evaluation stay the module's."""
    from helpers_executors import tiny_spec

    from neronet.nn import build
    from neronet.spec import LearningSpec
    from neronet.train.core import InverseTime, Trainer

    compiled: list[torch.nn.Module] = []
    calls: list[int] = []

    def fake_compile(module: torch.nn.Module) -> object:
        compiled.append(module)
        return lambda x: (calls.append(1), module(x))[1]

    monkeypatch.setattr(torch, "compile", fake_compile)
    model = build(tiny_spec())
    learning = LearningSpec(optimizer="sgd", lr=0.1, batch_size=4)
    cfg = load_config(None, ["training.compile=compile"]).training
    trainer = Trainer(
        model, learning, InverseTime(0.1, 0.0), cfg, cfg, device=CPU, seed=0, step_mode="compile"
    )
    x, y = torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 3])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer.update(x, y)
    assert compiled == [model] and calls == [1] and trainer.step == 1
    assert set(model.state_dict()) == set(before)  # no wrapper prefix in the weights
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
