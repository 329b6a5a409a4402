"""Attack suite, AutoAttack adapter, masking audit and tables on trained digits models.

The same tiny CNN is trained with the standard and the adversarial schedule
(a few epochs, digits-sized eps 0.15: the 8/255 of CIFAR is below one grey
level step of these 17-level images). A deliberately masked copy of the
standard model rounds its input to 5 grey levels, which zeroes the input
gradient, the textbook case the audit must catch.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import ModuleType

import pyautoattack
import pytest
import torch
from helpers_scripts import load_script
from rich.console import Console
from test_posttrain import quick, tiny_spec
from torch import nn

from neronet.attacks import ATTACKS
from neronet.attacks.inside import Inside
from neronet.attacks.resume import Checkpoint, batch_checkpoint
from neronet.attacks.running import configured_autoattack
from neronet.attacks.square import square_batch
from neronet.attacks.targeted import TARGETED, targeted_batch
from neronet.augment import to_float
from neronet.config import AttackSettings, AuditSettings
from neronet.data import Dataset, load_dataset
from neronet.errors import AttackError
from neronet.evaluation.masking import MaskingLimits, masking_evidence
from neronet.export import spec_from_safetensors
from neronet.nn import build
from neronet.robustness import (
    SUITES,
    ModelReport,
    Outcome,
    SuiteReport,
    Tick,
    adversarial_correct,
    autoattack_correct,
    evaluate,
    evaluate_model,
    markdown,
    rich_report,
    select_attacks,
    write_tables,
)
from neronet.train.posttrain import train_seeds

EPS = 0.15


def _masked_models() -> ModuleType:
    """The masked-model wrappers of ``bench/masking_guard.py``."""
    return load_script("bench/masking_guard.py")


_GUARD = _masked_models()
Rounded, Saturated = _GUARD.Quantised, _GUARD.Saturated
MASKED = {"quantised input": Rounded, "saturated softmax": Saturated}


Data = tuple[torch.Tensor, torch.Tensor]


def clean_correct(model: nn.Module, data: Data, first: int) -> Data:
    """The images among the first ``first`` that ``model`` classifies correctly, and their
    labels: what an attack is run on."""
    x, y = data[0][:first], data[1][:first]
    ok = model(x).argmax(1) == y
    return x[ok], y[ok]


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits")


@pytest.fixture(scope="module")
def test_data(digits: Dataset) -> Data:
    assert digits.test is not None
    return to_float(torch.from_numpy(digits.test.x)), torch.from_numpy(digits.test.y)


@pytest.fixture(scope="module")
def models(digits: Dataset, tmp_path_factory: pytest.TempPathFactory) -> dict[str, nn.Module]:
    """The same architecture and seed, trained standard and adversarially (6 epochs)."""
    out = {}
    for mode in ("standard", "adversarial"):
        [result] = train_seeds(
            tiny_spec(), digits, quick(mode, epochs=6), tmp_path_factory.mktemp(mode)
        )
        spec, weights = spec_from_safetensors(result.model_path)
        model = build(spec)
        model.load_state_dict(weights)
        out[mode] = model.eval()
    return out


def settings(**kw: object) -> AttackSettings:
    """Digits-sized radii; the audit (off unless given) with CPU-sized budgets."""
    audit = {
        "enabled": "audit" in kw,
        "square_queries": 300,
        "convergence_steps": 50,
        "convergence_restarts": 3,
        **kw.pop("audit", {}),
    }
    return AttackSettings(linf_eps=EPS, l2_eps=1.0, **kw, audit=AuditSettings(**audit))


def accuracies(report: ModelReport) -> dict[str, tuple[float, float | None, float | None]]:
    return {o.attack: (o.clean, o.conditional, o.overall) for o in report.outcomes}


def masking_checks(report: ModelReport) -> set[str]:
    return {f.check for f in report.flags if f.kind == "masking"}


def test_adversarial_training_raises_pgd_accuracy(
    models: dict[str, nn.Module], test_data: Data
) -> None:
    pgd = select_attacks(None, ["pgd-linf"])
    std, adv = (evaluate_model(models[m], *test_data, pgd, settings()) for m in models)
    std_acc, adv_acc = accuracies(std)["pgd-linf"][1], accuracies(adv)["pgd-linf"][1]
    assert std_acc is not None and adv_acc is not None
    assert adv_acc > std_acc + 0.2


def test_paper_suite_attacks_lower_accuracy_in_order_of_strength(
    models: dict[str, nn.Module], test_data: Data
) -> None:
    paper = select_attacks("paper")
    report = evaluate_model(models["adversarial"], *test_data, paper, settings(limit=40))
    acc = accuracies(report)
    assert set(acc) == {"clean", *SUITES["paper"]}
    clean = acc["clean"][0]
    correct = round(clean * 40)
    for name in SUITES["paper"]:
        _, conditional, overall = acc[name]
        assert overall is not None and conditional is not None
        assert overall < clean, name
        assert overall == pytest.approx(clean * conditional)
    noise = 1.5 / correct  # one image of the attacked set, plus rounding
    for weak, medium, strong in (("fgsm", "pgd-linf", "autoattack"), ("fgm", "pgd-l2", "apgd-l2")):
        assert acc[strong][1] <= acc[medium][1] + noise <= acc[weak][1] + 2 * noise


def test_audit_flags_a_masked_model(models: dict[str, nn.Module], test_data: Data) -> None:
    masked, audited = Rounded(models["standard"]), settings(audit={"subset": 60})
    report = evaluate_model(masked, *test_data, select_attacks("fast"), audited)
    checks = masking_checks(report)
    assert {"black-box beats white-box", "large eps not ~0", "single-step probes"} <= checks
    flagged_rows = {f.attack for f in report.flags if f.kind == "masking"}
    assert "fgsm" in flagged_rows  # the number the search optimises is judged too
    assert flagged_rows <= {"fgsm", "fgm", "pgd-linf", "pgd-l2"}
    assert "gradient masking suspected" in markdown(SuiteReport([report], audited))


@pytest.mark.parametrize("kind", sorted(MASKED))
def test_the_fgsm_row_of_a_masked_model_is_flagged(
    kind: str, models: dict[str, nn.Module], test_data: Data
) -> None:
    masked = MASKED[kind](models["standard"])
    attacks = select_attacks(None, ["fgsm", "pgd-linf"])
    report = evaluate_model(masked, *test_data, attacks, settings(audit={"subset": 60}))
    fgsm_flags = [f for f in report.flags if f.attack == "fgsm" and f.kind == "masking"]
    assert fgsm_flags and "should be ~0" in fgsm_flags[0].reason
    assert accuracies(report)["fgsm"][1] > 0.9  # what made FGSM look robust


@pytest.mark.parametrize("kind", [None, *sorted(MASKED)])
@pytest.mark.parametrize("training", ["standard", "adversarial"])
def test_in_search_probes_flag_masked_models_only(
    kind: str | None, training: str, models: dict[str, nn.Module], test_data: Data
) -> None:
    model = models[training] if kind is None else MASKED[kind](models[training])
    x, y = test_data
    correct = (model(x).argmax(1) == y).nonzero().flatten()[:64]
    limits = MaskingLimits()
    evidence = masking_evidence(
        model, x[correct], y[correct], eps=EPS, norm="linf", limits=limits, seed=0, batch_size=64
    )
    assert evidence.images == 64
    assert bool(evidence.reasons(limits)) == (kind is not None), evidence


def test_audit_is_quiet_on_a_normal_model_but_notes_optimistic_fgsm(
    models: dict[str, nn.Module], test_data: Data
) -> None:
    audit = {"subset": 60, "fgsm_gap": 0.02}
    report = evaluate_model(
        models["standard"], *test_data, select_attacks("fast"), settings(audit=audit)
    )
    assert masking_checks(report) == set()
    notes = [f for f in report.flags if f.kind == "note"]
    assert notes and notes[0].attack == "fgsm" and "optimistic estimate" in notes[0].reason
    acc = accuracies(report)
    assert acc["fgsm"][1] > acc["pgd-linf"][1] + 0.02  # what the note says


def test_a_crippled_pgd_is_beaten_by_fgsm_and_flagged(
    models: dict[str, nn.Module], test_data: Data
) -> None:
    weak = settings(linf_step=EPS / 100, steps=2, audit={"subset": 30})
    report = evaluate_model(
        models["standard"], *test_data, select_attacks(None, ["fgsm", "pgd-linf"]), weak
    )
    flags = [f for f in report.flags if f.check == "single-step beats iterative"]
    assert flags and flags[0].attack == "pgd-linf"
    assert "PGD-2" in flags[0].reason and "FGSM" in flags[0].reason


def test_select_attacks() -> None:
    paper = ["fgsm", "pgd-linf", "autoattack", "fgm", "pgd-l2", "apgd-l2"]  # Table 2
    assert [a.name for a in select_attacks("paper")] == paper
    assert [a.name for a in select_attacks("l2", ["fgsm"])] == ["fgsm", "fgm", "pgd-l2", "apgd-l2"]
    with pytest.raises(AttackError, match="valid suites: paper, linf, l2, fast"):
        select_attacks("everything")
    with pytest.raises(AttackError, match="valid attacks: fgsm, pgd-linf"):
        select_attacks(None, ["cw"])
    with pytest.raises(AttackError, match="no attack selected"):
        select_attacks(None, [])


def test_autoattack_adapter_is_seeded_and_leaves_the_global_rng_alone(
    models: dict[str, nn.Module], test_data: Data
) -> None:
    x, y = test_data[0][:20], test_data[1][:20]
    model = models["adversarial"]
    ok = model(x).argmax(1) == y
    state = torch.get_rng_state()
    runs = [
        autoattack_correct(
            model,
            x[ok],
            y[ok],
            threat="l2",
            eps=1.0,
            attacks=["apgd-ce", "apgd-t"],
            batch_size=32,
            seed=3,
        )
        for _ in range(2)
    ]
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(runs[0], runs[1])
    assert runs[0].float().mean() < 1.0


def test_autoattack_driven_one_attack_at_a_time_equals_its_own_loop(
    models: dict[str, nn.Module], test_data: Data
) -> None:
    """Same attacks, order, batches and seeds as ``run_standard_evaluation``: the same
    images survive; the ticks name each attack and count the images still robust."""
    model = models["adversarial"]
    x, y = clean_correct(model, test_data, 48)
    common = {"threat": "linf", "eps": EPS, "seed": 0, "square_queries": 50}
    ticks: list[Tick] = []
    ours = autoattack_correct(
        model, x, y, attacks=None, batch_size=16, on_tick=ticks.append, **common
    )
    aa = configured_autoattack(
        model, attacks=None, device=x.device, num_classes=10, **{**common, "restarts": 1}
    )
    with torch.random.fork_rng():
        x_adv, _ = aa.run_standard_evaluation(x, y, batch_size=16)
    assert torch.equal(ours, model(x_adv).argmax(1) == y)
    assert next(t.task for t in ticks if t.done == 0) == "AutoAttack apgd-ce"
    attacks = {t.task.split(",")[0].split()[-1] for t in ticks}  # ", batch i/n": inside one
    assert attacks == {"apgd-ce", "apgd-t", "fab-t", "square"}
    assert ticks[-1].robust == int(ours.sum()) and ticks[-1].images == len(y)


def test_autoattack_attacks_the_network_in_evaluation_mode_and_leaves_it_as_found(
    models: dict[str, nn.Module], test_data: Data
) -> None:
    """Handed a network in training mode, AutoAttack (as FGSM and PGD) attacks it in
    evaluation mode: the same images survive as when it is handed in evaluation mode,
    its batch-norm statistics do not move, and every submodule's mode comes back."""
    model = models["adversarial"]
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    x, y = clean_correct(model, test_data, 16)
    common = {"threat": "linf", "eps": EPS, "attacks": ["apgd-ce"], "batch_size": 8, "seed": 0}
    expected = autoattack_correct(model, x, y, **common)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    try:
        assert torch.equal(autoattack_correct(model, x, y, **common), expected)
        assert all(m.training for m in model.modules())
        for key, value in model.state_dict().items():
            assert torch.equal(value, state[key]), key
    finally:
        model.eval()


class _Stop(Exception):
    """Raised from a tick: the call is stopped there, as a kill would stop it."""


def test_autoattack_computes_no_weight_gradients_and_restores_the_model(
    models: dict[str, nn.Module], test_data: Data
) -> None:
    """FAB-T calls ``backward()``: with the weights frozen while AutoAttack runs nothing is
    accumulated in their ``.grad``; they require gradients again afterwards, also when the
    call is stopped."""
    model = models["adversarial"]
    x, y = clean_correct(model, test_data, 16)
    model.zero_grad(set_to_none=True)
    common = {"threat": "linf", "eps": EPS, "attacks": ["fab-t"], "batch_size": 8, "seed": 0}
    frozen: list[bool] = []

    def watch(tick: Tick) -> None:
        frozen.append(not any(p.requires_grad for p in model.parameters()))

    autoattack_correct(model, x, y, on_tick=watch, **common)
    assert frozen and all(frozen)
    assert all(p.requires_grad and p.grad is None for p in model.parameters())

    def stop(tick: Tick) -> None:
        raise _Stop

    with pytest.raises(_Stop):
        autoattack_correct(model, x, y, on_tick=stop, **common)
    assert all(p.requires_grad for p in model.parameters())


def test_autoattack_stopped_mid_ensemble_resumes_to_the_uninterrupted_result(
    models: dict[str, nn.Module], test_data: Data, tmp_path: Path
) -> None:
    """Inside batch_checkpoint a call stopped at a batch of APGD-T continues there: the
    same images survive as in one uninterrupted call, and the batches done before the
    stop are not attacked again; another model's checkpoint is ignored."""
    model = models["adversarial"]
    x, y = clean_correct(model, test_data, 48)
    common = {"threat": "linf", "eps": EPS, "attacks": None, "batch_size": 8, "seed": 0}
    common["square_queries"] = 30
    every: list[Tick] = []
    whole = autoattack_correct(model, x, y, on_tick=every.append, **common)

    def stop_in_apgd_t(tick: Tick) -> None:
        if tick.task.endswith("apgd-t") and tick.done == 1 < tick.total:
            raise _Stop  # before APGD-T's second batch

    path = tmp_path / "aa.json"
    with batch_checkpoint(path), pytest.raises(_Stop):
        autoattack_correct(model, x, y, on_tick=stop_in_apgd_t, **common)
    saved = json.loads(path.read_text())
    assert (saved["attack"], saved["batches"]) == (1, 1)  # APGD-CE and one APGD-T batch
    rest: list[Tick] = []
    with batch_checkpoint(path):
        resumed = autoattack_correct(model, x, y, on_tick=rest.append, **common)
    assert torch.equal(resumed, whole)
    started = [(t.task, t.done) for t in every if t.done < t.total]
    again = [(t.task, t.done) for t in rest if t.done < t.total]
    assert again == started[started.index(("AutoAttack apgd-t", 1)) :]
    with batch_checkpoint(path):  # the standard model: the checkpoint is not its own
        other = autoattack_correct(models["standard"], x, y, **common)
    assert torch.equal(other, autoattack_correct(models["standard"], x, y, **common))


def _library_perturb(aa: object, name: str, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """pyautoattack's own ``perturb``, set up as run_standard_evaluation sets it."""
    with torch.random.fork_rng(), torch.no_grad():
        if name == "apgd-t":
            aa.apgd_targeted.seed = aa.get_seed()
            return aa.apgd_targeted.perturb(x, y)
        if name == "square":
            aa.square.seed = aa.get_seed()
            return aa.square.perturb(x, y)
        aa.fab.targeted, aa.fab.n_restarts, aa.fab.seed = True, 1, aa.get_seed()
        return aa.fab.perturb(x, y)


DRIVEN = {"apgd-t": (targeted_batch, 4), "fab-t": (targeted_batch, 4), "square": (square_batch, 2)}
"""Each driven attack and the state (0-based) a resumed call starts from."""


@pytest.mark.parametrize("name", DRIVEN)
def test_a_driven_attack_is_the_librarys_bit_for_bit_and_resumes_inside_its_batch(
    models: dict[str, nn.Module], test_data: Data, name: str
) -> None:
    """APGD-T and FAB-T run one target class at a time, and Square query by query, give
    the library's adversarial batch bit for bit; they hand over a state after each of the
    9 classes (every 10 of Square's 60 queries here), and a call started from one of them
    (its tensors and RNG, whatever the RNG holds now) ends with the same batch."""
    model = models["adversarial"]
    x, y = clean_correct(model, test_data, 24)
    run, resume_at = DRIVEN[name]
    every = {"every": 10} if name == "square" else {}

    def fresh() -> object:
        return configured_autoattack(
            model,
            threat="linf",
            eps=EPS,
            attacks=None,
            seed=0,
            device=x.device,
            num_classes=10,
            square_queries=60,
        )

    theirs = _library_perturb(fresh(), name, x, y)
    states: list[Inside] = []
    with torch.random.fork_rng():
        ours = run(fresh(), name, x, y, None, states.append, **every)
    assert torch.equal(ours, theirs)
    fooled = int((model(theirs).argmax(1) != y).sum())
    assert 0 < fooled < len(y)  # the attack had work to do and left some images robust
    steps = [s.done for s in states]
    assert steps == (list(range(1, 10)) if name != "square" else list(range(10, 61, 10)))
    later: list[int] = []
    with torch.random.fork_rng():
        torch.manual_seed(123)  # whatever the RNG holds, the state brings its own
        resumed = run(
            fresh(), name, x, y, states[resume_at], lambda s: later.append(s.done), **every
        )
    assert torch.equal(resumed, theirs) and later == steps[resume_at + 1 :]


def test_autoattack_stopped_inside_a_driven_batch_resumes_there(
    models: dict[str, nn.Module], test_data: Data, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A call stopped after APGD-T's 4th target class of a batch continues at the 5th,
    and one stopped inside Square continues after its last saved state: the same images
    survive as uninterrupted; the file inside the batch goes once the batch is done.
    Each state handed over is also a progress tick inside the batch."""
    model = models["adversarial"]
    x, y = clean_correct(model, test_data, 24)
    common = {"threat": "linf", "eps": EPS, "attacks": None, "batch_size": 64, "seed": 0}
    common["square_queries"] = 600  # Square hands over states at 250 and 500
    ticks: list[Tick] = []
    whole = autoattack_correct(model, x, y, on_tick=ticks.append, **common)
    inside = [t for t in ticks if ", batch 1/1" in t.task]
    assert [(t.task, t.done, t.total, t.unit) for t in inside] == [
        *(
            (f"AutoAttack {n}, batch 1/1", k, 9, "target classes")
            for n in TARGETED
            for k in range(1, 10)
        ),
        *(("AutoAttack square, batch 1/1", k, 600, "queries") for k in (250, 500)),
    ]
    square = inside[-1].describe()
    assert square.startswith("AutoAttack square, batch 1/1: 500/600 queries, ")
    assert square.endswith(f"/{inside[-1].images} still robust")
    assert inside[-1].robust is not None and inside[-1].robust >= int(whole.sum())
    saved: list[tuple[int, int]] = []
    original = Checkpoint.save_inside
    stops = iter([(1, 4), (3, 250)])
    stop = next(stops)

    def save_then_stop(self: Checkpoint, attack: int, batch: int, state: Inside) -> None:
        nonlocal stop
        original(self, attack, batch, state)
        saved.append((attack, state.done))
        if (attack, state.done) == stop:
            stop = next(stops, None)
            raise _Stop

    monkeypatch.setattr(Checkpoint, "save_inside", save_then_stop)
    path = tmp_path / "aa.json"
    inside = tmp_path / "aa.inside.safetensors"
    with batch_checkpoint(path), pytest.raises(_Stop):
        autoattack_correct(model, x, y, **common)
    assert inside.is_file() and saved == [(1, 1), (1, 2), (1, 3), (1, 4)]
    saved.clear()
    with batch_checkpoint(path), pytest.raises(_Stop):
        autoattack_correct(model, x, y, **common)
    assert saved[:5] == [(1, 5), (1, 6), (1, 7), (1, 8), (1, 9)]  # APGD-T from its 5th class
    assert saved[-1] == (3, 250) and inside.is_file()  # FAB-T's nine, then Square's first
    saved.clear()
    with batch_checkpoint(path):
        resumed = autoattack_correct(model, x, y, **common)
    assert torch.equal(resumed, whole)
    assert saved[0] == (3, 500)  # Square went on from its 250th query
    assert not inside.exists()


def test_autoattack_stops_when_every_image_is_broken(
    models: dict[str, nn.Module], test_data: Data
) -> None:
    """A weak model loses every image to APGD-CE: the later attacks get no batch (an empty
    batch crashed FAB), and the result says nothing survived."""
    model = models["standard"]
    x, y = test_data[0][:32], test_data[1][:32]
    ok = model(x).argmax(1) == y
    ticks: list[Tick] = []
    robust = autoattack_correct(
        model,
        x[ok],
        y[ok],
        threat="linf",
        eps=0.5,
        attacks=None,
        batch_size=16,
        seed=0,
        on_tick=ticks.append,
    )
    assert not robust.any()
    assert {t.task.split()[-1] for t in ticks} == {"apgd-ce"}


def test_tables_aggregate_mean_and_std_over_models(
    models: dict[str, nn.Module], test_data: Data, tmp_path: Path
) -> None:
    pairs = [("std", models["standard"]), ("masked", Rounded(models["standard"]))]
    s = settings(audit={"subset": 20})
    report = evaluate(pairs, *test_data, select_attacks(None, ["fgsm", "pgd-linf"]), s)
    paths = write_tables(report, tmp_path)
    assert [p.name for p in paths] == ["robustness.csv", "per_model.csv", "robustness.md"]
    rows = {r["attack"]: r for r in csv.DictReader(paths[0].open())}
    per_model = [accuracies(m)["pgd-linf"][1] for m in report.models]
    mean = sum(per_model) / 2
    std = abs(per_model[0] - per_model[1]) / 2**0.5
    assert float(rows["PGD-20"]["conditional_mean"]) == pytest.approx(mean, abs=1e-6)
    assert float(rows["PGD-20"]["conditional_std"]) == pytest.approx(std, abs=1e-6)
    assert rows["PGD-20"]["models"] == "2"
    assert "masked: black-box Square" in rows["PGD-20"]["masking_flags"]
    assert "std:" not in rows["PGD-20"]["masking_flags"]
    lines = list(csv.reader(paths[1].open()))
    assert len(lines) == 1 + 2 * 3  # header + (clean, FGSM, PGD) per model
    masked_pgd = next(line for line in lines if line[0] == "masked" and line[2] == "PGD-20")
    assert masked_pgd[-1].startswith("masking: ")  # the kind first: a flag, not a note
    text = paths[2].read_text()
    assert "| L-inf | PGD-20 | 0.15 |" in text and "FLAG: masked:" in text


def test_autoattack_restarts_apply_to_the_l2_run_only(
    test_data: Data, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The L-inf row must stay the reference standard AutoAttack whatever the setting."""
    seen: dict[str, tuple[str, int]] = {}

    def record(self: pyautoattack.AutoAttack, x: torch.Tensor, y: torch.Tensor, **_: object):
        seen[self.norm] = (self.version, self.apgd.n_restarts)
        return x, y

    monkeypatch.setattr(pyautoattack.AutoAttack, "run_standard_evaluation", record)
    x, y = test_data[0][:8], test_data[1][:8]
    model = build(tiny_spec()).eval()
    clean = torch.ones(len(y), dtype=torch.bool)
    restarts = settings(autoattack_restarts=3)
    for name in ("autoattack", "apgd-l2"):
        adversarial_correct(model, x, y, clean, ATTACKS.get(name), restarts)
    assert seen == {"Linf": ("standard", 1), "L2": ("custom", 3)}


def outcome(attack: str, threat: str) -> Outcome:
    return Outcome(attack, attack.upper(), threat, 0.1, 0.9, 0.5, 0.45, 10)


def report_text(report: SuiteReport) -> tuple[str, str]:
    """The markdown and the terminal rendering of ``report``."""
    console = Console(record=True, width=200)
    console.print(rich_report(report))
    return markdown(report), console.export_text()


def test_an_audit_that_checked_nothing_says_so() -> None:
    """Without a PGD attack no check runs: never report "no flag" or "ok" then."""
    outcomes = [Outcome("clean", "clean", "-", None, 0.9, None, None, 10)]
    unaudited = ModelReport("m", [*outcomes, outcome("fgsm", "L-inf"), outcome("fgm", "L2")])
    audit_on = settings(audit={})
    md, terminal = report_text(SuiteReport([unaudited], audit_on))
    assert "Audit not run: needs pgd-linf or pgd-l2" in md and "no flag" not in md
    assert "audit not run: needs pgd-linf or pgd-l2" in terminal and " ok" not in terminal
    assert "| L-inf | FGSM | 0.1 | 90.00 | 50.00 | 45.00 | not audited |" in md
    partly = ModelReport("m", [*outcomes, outcome("pgd-linf", "L-inf"), outcome("fgm", "L2")])
    partly.audited = ("L-inf",)
    md, terminal = report_text(SuiteReport([partly], audit_on))
    assert "Audit of the L-inf attacks" in md and "no flag." in md
    assert "| PGD-LINF | 0.1 | 90.00 | 50.00 | 45.00 | ok |" in md
    assert "| FGM | 0.1 | 90.00 | 50.00 | 45.00 | not audited |" in md
    assert "audit not run" not in terminal


def test_the_terminal_table_splits_clean_and_conditional_accuracy() -> None:
    """As the markdown does: one column holding two different accuracies misreads."""
    outcomes = [Outcome("clean", "clean", "-", None, 0.9, None, None, 10)]
    report = SuiteReport([ModelReport("m", [*outcomes, outcome("pgd-linf", "L-inf")])], settings())
    _, terminal = report_text(report)
    header = next(line for line in terminal.splitlines() if "threat" in line)
    cells = [cell.strip() for cell in header.strip(" ┃").split("┃")]
    assert cells == [
        "threat",
        "attack",
        "eps",
        "clean",
        "conditional adv.",
        "overall adv.",
        "audit",
    ]
    row = next(line for line in terminal.splitlines() if "PGD-LINF" in line)
    assert [cell.strip() for cell in row.strip(" │").split("│")][3:6] == ["90.00", "50.00", "45.00"]


def test_evaluate_model_records_which_threats_the_audit_checked(
    models: dict[str, nn.Module], test_data: Data
) -> None:
    model = models["standard"]
    report = evaluate_model(
        model, *test_data, select_attacks(None, ["fgsm", "fgm"]), settings(limit=20, audit={})
    )
    assert report.audited == () and report.flags == []


def test_the_settings_line_names_autoattack_only_when_it_ran() -> None:
    from neronet.robustness.tables import ModelReport, Outcome

    def report(*attacks: str) -> str:
        outcomes = [Outcome("clean", "clean", "-", None, 0.9, None, None, 10)] + [
            Outcome(name, name.upper(), "linf", 0.1, 0.9, 0.5, 0.45, 10) for name in attacks
        ]
        settings = AttackSettings(audit={"convergence_restarts": 1})
        return markdown(SuiteReport([ModelReport("m", outcomes, [], ("L-inf",))], settings))

    fast = report("fgsm", "pgd-linf")
    assert "AutoAttack" not in fast and "PGD-100 x 1 restart," in fast
    assert "AutoAttack: standard (L-inf), APGD-CE (1 restart)" in report("fgsm", "autoattack")
