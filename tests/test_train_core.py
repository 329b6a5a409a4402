"""The shared training core: optimizers, lr schedules, the Trainer's step, predict."""

import itertools

import pytest
import torch
from test_training import ADAM, CPU, _model, digits_data, small_cnn

from neronet.augment import DeviceData
from neronet.config import TrainingConfig
from neronet.spec import LearningSpec
from neronet.train.core import (
    Cosine,
    InverseTime,
    StepDecay,
    Trainer,
    amp_dtype,
    make_optimizer,
    param_groups,
    predict,
)
from neronet.train.lars import ETA, Lars


@pytest.fixture(scope="module")
def digits() -> DeviceData:
    return digits_data()


def test_l2_only_on_conv_and_fc_kernels() -> None:
    model = small_cnn()
    groups = param_groups(model, 5e-4)
    kernels = {id(model[0].weight), id(model[4].weight), id(model[9].weight)}
    assert {id(p) for p in groups[0]["params"]} == kernels
    assert groups[0]["weight_decay"] == 5e-4
    assert groups[1]["weight_decay"] == 0.0
    rest = {id(p) for p in groups[1]["params"]}
    assert rest == {id(p) for p in model.parameters()} - kernels
    assert id(model[1].weight) in rest and id(model[0].bias) in rest  # BN and biases
    opt = make_optimizer(model, ADAM, 5e-4)
    assert [g["weight_decay"] for g in opt.param_groups] == [5e-4, 0.0]


def test_optimizer_hyper_parameters() -> None:
    sgd = make_optimizer(small_cnn(), LearningSpec(optimizer="sgd", momentum=0.0, nesterov=True), 0)
    assert isinstance(sgd, torch.optim.SGD)
    assert sgd.defaults["nesterov"] is False  # torch refuses nesterov without momentum
    adam = make_optimizer(small_cnn(), LearningSpec(optimizer="adam", beta1=1.0, beta2=0.6), 0)
    assert adam.defaults["betas"] == (0.9999, 0.6)
    rms = make_optimizer(small_cnn(), LearningSpec(optimizer="rmsprop", rho=0.8, momentum=0.5), 0)
    assert (rms.defaults["alpha"], rms.defaults["momentum"]) == (0.8, 0.5)


def test_an_individual_weight_decay_replaces_the_configs() -> None:
    learning = LearningSpec(optimizer="adam", weight_decay=3e-5)
    opt = make_optimizer(small_cnn(), learning, 5e-4)
    assert [g["weight_decay"] for g in opt.param_groups] == [3e-5, 0.0]


def test_lars_scales_kernels_by_trust_and_biases_by_their_own_lr() -> None:
    """One LARS step by hand: a kernel moves by lr * eta * ||w|| / ||g + wd w|| times its
    L2-augmented gradient, a bias by lr_biases times its plain gradient; momentum after."""
    layer = torch.nn.Linear(3, 2)
    learning = LearningSpec(optimizer="lars", lr=0.2, lr_biases=0.01, momentum=0.5)
    opt = make_optimizer(torch.nn.Sequential(layer), learning, 1e-2)
    assert isinstance(opt, Lars)
    w0, b0 = layer.weight.detach().clone(), layer.bias.detach().clone()
    steps = []
    for _ in range(2):
        opt.zero_grad()
        layer(torch.ones(1, 3)).square().sum().backward()
        g = layer.weight.grad + 1e-2 * layer.weight.detach()
        steps.append((ETA * layer.weight.detach().norm() / g.norm() * g, layer.bias.grad.clone()))
        opt.step()
    (kernel_1, bias_1), (kernel_2, bias_2) = steps
    expected_w = w0 - 0.2 * kernel_1 - 0.2 * (0.5 * kernel_1 + kernel_2)
    expected_b = b0 - 0.01 * bias_1 - 0.01 * (0.5 * bias_1 + bias_2)
    torch.testing.assert_close(layer.weight.detach(), expected_w)
    torch.testing.assert_close(layer.bias.detach(), expected_b)


def test_inverse_time_decay() -> None:
    schedule = InverseTime(lr=0.1, decay=0.01)
    assert schedule(0) == 0.1
    assert schedule(100) == pytest.approx(0.05)


def test_cosine_reaches_zero_and_stays() -> None:
    schedule = Cosine(lr=0.2, total_steps=10)
    values = [schedule(step) for step in range(12)]
    assert values[0] == 0.2 and values[5] == pytest.approx(0.1)
    assert all(later < earlier for earlier, later in itertools.pairwise(values[:11]))
    assert values[10] == values[11] == pytest.approx(0.0, abs=1e-12)


def test_step_decay_changes_only_at_epoch_milestones() -> None:
    schedule = StepDecay(lr=1.0, gamma=0.5, milestones=(2, 3), steps_per_epoch=4)
    assert [schedule(step) for step in range(0, 16, 4)] == [1.0, 1.0, 0.5, 0.25]
    assert schedule(7) == 1.0 and schedule(8) == 0.5


def test_predict_matches_manual_argmax(digits: DeviceData) -> None:
    model = _model()
    model.eval()
    preds = predict(model, digits.fitness.x, batch_size=100)
    with torch.no_grad():
        expected = model(digits.fitness.x.float() / 255).argmax(1)
    assert preds.dtype == torch.int64
    assert torch.equal(preds, expected)
    assert model.training is False


def test_amp_modes() -> None:
    assert amp_dtype("auto", CPU) is None
    assert amp_dtype("auto", torch.device("cuda")) == torch.bfloat16
    assert amp_dtype("fp16", CPU) == torch.float16
    assert amp_dtype("off", torch.device("cuda")) is None


def _trainer(model: torch.nn.Module, grad_clip: float | None, lr: float = 0.1) -> Trainer:
    sgd = LearningSpec(optimizer="sgd", lr=lr, momentum=0.0)
    settings = TrainingConfig(weight_decay=0.0, amp="off", channels_last=False)
    return Trainer(
        model,
        sgd,
        InverseTime(lr, 0.0),
        settings,
        settings,
        device=CPU,
        seed=0,
        grad_clip=grad_clip,
    )


def test_trainer_step_writes_lr_counts_steps_and_clips(digits: DeviceData) -> None:
    """A clipped SGD step moves the weights by at most lr * clip (global L2 norm)."""
    model, clip, lr = _model(), 1e-3, 0.1
    before = [p.detach().clone() for p in model.parameters()]
    trainer = _trainer(model, clip, lr)
    trainer.schedule = InverseTime(lr, 1.0)  # lr halves after the first step
    idx = next(trainer.batches(len(digits.train), 64))
    loss, logits = trainer.update(*trainer.batch(digits.train, idx))
    assert trainer.step == 1 and loss.ndim == 0 and logits.shape == (64, 10)
    assert not loss.requires_grad and not logits.requires_grad
    moved = torch.cat([(p - b).flatten() for p, b in zip(model.parameters(), before, strict=True)])
    assert 0 < moved.norm() <= lr * clip * (1 + 1e-4)
    trainer.update(*trainer.batch(digits.train, idx))
    assert trainer.optimizer.param_groups[0]["lr"] == trainer.last_lr == lr / 2


def test_trainer_is_deterministic_given_the_seed(digits: DeviceData) -> None:
    def losses() -> list[float]:
        trainer = _trainer(_model(), grad_clip=None)
        out = []
        for idx in itertools.islice(trainer.batches(len(digits.train), 64), 5):
            out.append(float(trainer.update(*trainer.batch(digits.train, idx))[0]))
        return out

    assert losses() == losses()
