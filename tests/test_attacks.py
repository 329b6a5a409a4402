"""Attacks against an independent implementation (foolbox) and their invariants.

A tiny CNN is trained for a couple of seconds on scikit-learn's 8x8 digits so
the attacks face a real decision boundary.
"""

from __future__ import annotations

from collections.abc import Callable

import foolbox as fb
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from neronet.attacks import ATTACKS, attack_correct, fgm, fgsm, get_attack, pgd
from neronet.errors import AttackError

Data = tuple[nn.Module, torch.Tensor, torch.Tensor]


@pytest.fixture(scope="module")
def trained() -> Data:
    torch.manual_seed(0)
    digits = load_digits()
    x = torch.tensor(digits.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(digits.target)
    gen = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(y), generator=gen)
    train, test = perm[:1400], perm[1400:]
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.1),
        nn.Linear(32 * 16, 10),
    )
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(15):
        for batch in torch.randperm(len(train), generator=gen).split(64):
            idx = train[batch]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    model.eval()
    model.zero_grad(set_to_none=True)
    return model, x[test], y[test]


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def test_model_is_trained(trained: Data) -> None:
    assert accuracy(*trained) > 0.95


def _foolbox(model: nn.Module, attack: fb.Attack, x: torch.Tensor, y: torch.Tensor, eps: float):
    _, clipped, _ = attack(fb.PyTorchModel(model, bounds=(0, 1)), x, y, epsilons=eps)
    return clipped


@pytest.mark.parametrize(
    ("ours", "theirs", "eps"),
    [(fgsm, fb.attacks.FGSM(), 0.1), (fgm, fb.attacks.FGM(), 0.5)],
    ids=["fgsm", "fgm"],
)
def test_single_step_attacks_match_foolbox(
    trained: Data, ours: Callable[..., torch.Tensor], theirs: fb.Attack, eps: float
) -> None:
    model, x, y = trained
    adv = ours(model, x, y, eps)
    ref = _foolbox(model, theirs, x, y, eps)
    assert torch.allclose(adv, ref, atol=1e-5)
    assert accuracy(model, adv, y) == accuracy(model, ref, y)
    assert accuracy(model, adv, y) < accuracy(model, x, y) - 0.1


@pytest.mark.parametrize(
    ("norm", "theirs", "eps", "alpha"),
    [("linf", fb.attacks.LinfPGD, 0.1, 0.02), ("l2", fb.attacks.L2PGD, 0.5, 0.125)],
)
def test_pgd_matches_foolbox(
    trained: Data, norm: str, theirs: type[fb.Attack], eps: float, alpha: float
) -> None:
    model, x, y = trained
    adv = pgd(model, x, y, eps, alpha, 10, norm=norm, random_start=False)
    ref = _foolbox(model, theirs(abs_stepsize=alpha, steps=10, random_start=False), x, y, eps)
    assert abs(accuracy(model, adv, y) - accuracy(model, ref, y)) <= 0.015
    assert accuracy(model, adv, y) < accuracy(model, x, y) - 0.2


def test_pgd_at_least_as_strong_as_single_step(trained: Data) -> None:
    model, x, y = trained
    gen = torch.Generator().manual_seed(3)
    linf = pgd(model, x, y, 0.1, 0.02, 10, generator=gen)
    l2 = pgd(model, x, y, 0.5, 0.125, 10, norm="l2", generator=gen)
    assert accuracy(model, linf, y) <= accuracy(model, fgsm(model, x, y, 0.1), y) + 0.01
    assert accuracy(model, l2, y) <= accuracy(model, fgm(model, x, y, 0.5), y) + 0.01


def _all_attacks(eps_inf: float, eps_2: float) -> dict[str, Callable[..., torch.Tensor]]:
    gen = torch.Generator().manual_seed(1)
    return {
        "fgsm": lambda m, x, y: fgsm(m, x, y, eps_inf),
        "fgm": lambda m, x, y: fgm(m, x, y, eps_2),
        "pgd-linf": lambda m, x, y: pgd(m, x, y, eps_inf, 0.025, 5, generator=gen),
        "pgd-l2": lambda m, x, y: pgd(m, x, y, eps_2, 0.125, 5, norm="l2", generator=gen),
    }


def _check_budget(name: str, x: torch.Tensor, adv: torch.Tensor, eps: float) -> None:
    delta = (adv - x).flatten(1)
    norms = delta.abs().amax(1) if name in ("fgsm", "pgd-linf") else delta.norm(dim=1)
    assert norms.max().item() <= eps + 1e-5, name
    assert adv.min().item() >= 0.0 and adv.max().item() <= 1.0, name


def test_outputs_respect_budget_box_shape_and_dtype(trained: Data) -> None:
    model, x, y = trained
    x64 = x[:50].double()
    original = x64.clone()
    model.zero_grad(set_to_none=True)  # foolbox, unlike us, leaves parameter grads behind
    for name, attack in _all_attacks(0.1, 0.5).items():
        adv = attack(model, x64, y[:50])
        assert adv.shape == x64.shape and adv.dtype == torch.float64, name
        assert not adv.requires_grad, name
        assert torch.equal(x64, original), name  # input untouched
        eps = 0.5 if name in ("fgm", "pgd-l2") else 0.1
        _check_budget(name, x64, adv, eps)
    for p in model.parameters():
        assert p.grad is None  # only input gradients are taken


def test_eps_zero_leaves_inputs_unchanged(trained: Data) -> None:
    model, x, y = trained
    for name, attack in _all_attacks(0.0, 0.0).items():
        assert torch.equal(attack(model, x, y), x), name


def test_random_start_is_reproducible_with_generator(trained: Data) -> None:
    model, x, y = trained

    def run(seed: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        return pgd(model, x, y, 0.5, 0.1, 2, norm="l2", generator=gen)

    assert torch.equal(run(5), run(5))
    assert not torch.equal(run(5), run(6))


def test_attack_uses_eval_mode_and_restores_modes(trained: Data) -> None:
    model, x, y = trained
    expected = fgsm(model, x, y, 0.1)
    model.train()
    model[7].eval()  # a submodule in its own mode must get it back
    modes = [m.training for m in model.modules()]
    try:
        assert torch.equal(fgsm(model, x, y, 0.1), expected)  # BN running stats used
        assert [m.training for m in model.modules()] == modes
        attack_correct(model, x, y, get_attack("fgsm", eps=0.1))
        assert [m.training for m in model.modules()] == modes
    finally:
        model.eval()


def test_autocast_bfloat16_is_finite_and_effective(trained: Data) -> None:
    model, x, y = trained

    def run_pgd(**amp: torch.dtype) -> torch.Tensor:
        return pgd(model, x, y, 0.1, 0.02, 10, random_start=False, **amp)

    with torch.autocast("cpu", dtype=torch.bfloat16):
        adv = fgsm(model, x, y, 0.1)
        adv_pgd = run_pgd()
    assert torch.equal(adv, fgsm(model, x, y, 0.1, amp_dtype=torch.bfloat16))
    # every PGD step must see the updated input (autocast caches casts of grad leaves)
    assert torch.equal(adv_pgd, run_pgd(amp_dtype=torch.bfloat16))
    assert accuracy(model, adv_pgd, y) <= accuracy(model, run_pgd(), y) + 0.02
    assert accuracy(model, adv_pgd, y) < accuracy(model, adv, y) - 0.03
    for name, out in (("fgsm", adv), ("pgd-linf", adv_pgd)):
        assert out.dtype == torch.float32 and torch.isfinite(out).all(), name
        _check_budget(name, x, out, 0.1)
        assert accuracy(model, out, y) < accuracy(model, x, y) - 0.2, name


class _Amplify(nn.Module):
    """Scales logits so that fp16 backward overflows: exercises the fp32 fallback."""

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return logits * 1000.0


def test_fp16_overflow_falls_back_to_fp32_gradient(trained: Data) -> None:
    model, x, y = trained
    loud = nn.Sequential(model, _Amplify())
    adv = fgsm(loud, x, y, 0.1, amp_dtype=torch.float16)
    assert torch.isfinite(adv).all()
    assert torch.equal(adv, fgsm(loud, x, y, 0.1))
    # without overflow, fp16 gives (almost) the fp32 attack
    half = fgsm(model, x, y, 0.1, amp_dtype=torch.float16)
    assert abs(accuracy(model, half, y) - accuracy(model, fgsm(model, x, y, 0.1), y)) <= 0.02


def test_attack_correct_attacks_only_clean_correct(trained: Data) -> None:
    model, x, y = trained
    with torch.no_grad():
        pred_clean = model(x).argmax(1)
    y_bad = y.clone()
    y_bad[:40] = (pred_clean[:40] + 1) % 10  # guaranteed clean errors
    seen: list[int] = []

    def spy(m: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        seen.append(xb.shape[0])
        return fgsm(m, xb, yb, 0.1)

    clean, adv = attack_correct(model, x, y_bad, spy, batch_size=50)
    with torch.no_grad():  # the attack must still work under no_grad
        pred_adv = model(fgsm(model, x, y_bad, 0.1)).argmax(1)
    assert torch.equal(clean, pred_clean == y_bad)
    assert not clean[:40].any()
    assert sum(seen) == int(clean.sum()) and max(seen) <= 50
    assert not (adv & ~clean).any()
    # per-sample independence: chunked conditional attack == full-batch attack, masked
    assert torch.equal(adv, clean & (pred_adv == y_bad))
    _, adv_one_batch = attack_correct(model, x, y_bad, get_attack("fgsm", eps=0.1), 1000)
    assert torch.equal(adv, adv_one_batch)


def test_attack_correct_uses_given_clean_mask(trained: Data) -> None:
    model, x, y = trained
    given = torch.zeros(len(y), dtype=torch.bool)
    given[::3] = True
    seen: list[int] = []

    def spy(m: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        seen.append(xb.shape[0])
        return xb

    clean, adv = attack_correct(model, x, y, spy, 64, clean_correct=given)
    assert torch.equal(clean, given) and sum(seen) == int(given.sum())
    with torch.no_grad():
        assert torch.equal(adv, given & (model(x).argmax(1) == y))


def test_registry_binds_settings(trained: Data) -> None:
    model, x, y = trained
    assert torch.equal(get_attack("FGSM", eps=0.1)(model, x, y), fgsm(model, x, y, 0.1))
    assert torch.equal(get_attack("fgm", eps=0.5)(model, x, y), fgm(model, x, y, 0.5))
    for name, norm in (("pgd-linf", "linf"), ("pgd-l2", "l2")):
        fn = get_attack(name, eps=0.1, alpha=0.05, steps=2, random_start=False)
        assert torch.equal(fn(model, x, y), pgd(model, x, y, 0.1, 0.05, 2, norm, False)), name


@pytest.mark.parametrize(
    ("name", "settings", "match"),
    [
        ("cw", {"eps": 0.1}, "unknown attack 'cw'; valid attacks: fgsm, pgd-linf, autoattack, fgm"),
        ("fgsm", {"eps": 0.1, "steps": 3}, "no setting steps"),
        ("pgd-l2", {"eps": 0.1, "alpha": 0.1, "steps": 2, "norm": "linf"}, "no setting norm"),
        ("pgd-linf", {"eps": 0.1}, "needs setting.*alpha, steps"),
        ("fgsm", {"eps": -0.1}, "eps must be"),
        ("fgm", {"eps": float("nan")}, "eps must be"),
        ("pgd-linf", {"eps": 0.1, "alpha": 0.0, "steps": 2}, "alpha must be > 0"),
        ("pgd-linf", {"eps": 0.1, "alpha": 0.1, "steps": 0}, "steps must be an integer >= 1"),
        ("pgd-linf", {"eps": 0.1, "alpha": 0.1, "steps": 2.5}, "steps must be an integer"),
    ],
)
def test_registry_rejects_bad_names_and_settings(
    name: str, settings: dict[str, float], match: str
) -> None:
    with pytest.raises(AttackError, match=match) as err:
        get_attack(name, **settings)
    assert "\n" not in str(err.value)


def test_direct_calls_validate(trained: Data) -> None:
    model, x, y = trained
    with pytest.raises(AttackError, match="norm"):
        pgd(model, x, y, 0.1, 0.1, 1, norm="l3")
    with pytest.raises(AttackError, match="floats"):
        fgsm(model, (x * 255).to(torch.uint8), y, 0.1)
    with pytest.raises(AttackError, match="batch size"):
        attack_correct(model, x, y, get_attack("fgsm", eps=0.1), batch_size=0)
    shipped = ["fgsm", "pgd-linf", "autoattack", "fgm", "pgd-l2", "apgd-l2"]
    assert ATTACKS.names()[: len(shipped)] == shipped  # a plug-in's attacks come after
    with pytest.raises(AttackError, match="run by AutoAttack"):
        get_attack("autoattack", eps=0.1)
