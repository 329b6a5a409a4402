"""The survey's training-free proxies follow their references' recipes, and a survey
whose rows an earlier version's definitions measured is measured again, once."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from test_survey import TINY, _reading, _stored
from torch import nn

from neronet.cli import main
from neronet.config import load_config
from neronet.genotype import structure_for
from neronet.survey import proxies, rows
from neronet.survey.clock import CLOCK_FILE, EARLIER
from neronet.survey.proxies import PROXIES, PROXY_DEFINITIONS, croze, measure_proxies
from neronet.survey.rows import PROGRESS_LOG, SEARCH_TIME, load_survey_data, measure
from neronet.survey.store import DB_NAME, SurveyStore
from neronet.train.epoch_loop import TrainingDiverged


def _net() -> nn.Module:
    """A small CNN with batch norm and dropout, its running statistics moved off the
    identity (as a network that trained a little), so the mode matters."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Flatten(),
        nn.Linear(4 * 6 * 6, 3),
    )
    model.train()
    with torch.no_grad():
        model(torch.rand(16, 1, 6, 6) * 3)  # running statistics away from (0, 1)
    return model


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.rand(8, 1, 6, 6, generator=generator), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])


def _grad(model: nn.Module, image: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    leaf = image[None].clone().requires_grad_(True)
    F.cross_entropy(model(leaf), label[None]).backward()
    assert leaf.grad is not None
    return leaf.grad[0]


def test_gradient_and_curvature_are_each_images_own_by_cures_recipe() -> None:
    """Per image, alone through the network in evaluation mode: the input gradient's
    norm and CURE's ||grad L(x + z) - grad L(x)|| / h with z = h sign(g) / ||sign(g)||.
    The batch's means equal the mean of these (batch norm on batch statistics, or a
    step along the gradient itself, gives other numbers)."""
    model, (x, y), h = _net(), _batch(), 0.1
    found = measure_proxies(model, x, y, h)
    model.eval()
    norms, curvatures = [], []
    for image, label in zip(x, y, strict=True):
        g = _grad(model, image, label)
        z = h * torch.sign(g) / torch.sign(g).norm()
        norms.append(float(g.norm()))
        curvatures.append(float((_grad(model, image + z, label) - g).norm()) / h)
    assert found["proxy_grad_norm"] == pytest.approx(sum(norms) / len(norms), rel=1e-5)
    assert found["proxy_curvature"] == pytest.approx(sum(curvatures) / len(curvatures), rel=1e-4)


def _columns(t: torch.Tensor) -> int:
    """Entries per index of the first axis (what a cosine along it is summed over)."""
    return t[0].numel()


def test_croze_sums_one_plus_cosines_over_each_layers_columns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With no weight step and no input perturbation every cosine is 1, so each conv / fc
    layer scores (2 x its weight's columns) x (its gradient's columns) x (2 x its
    output's columns): the authors' sums of cosines along the first axis."""
    model, (x, y) = _net(), _batch()
    monkeypatch.setattr(proxies, "CROZE_WEIGHT_STEP", 0.0)
    conv, fc = model[0], model[5]
    expected = 2 * _columns(conv.weight) * _columns(conv.weight) * 2 * (4 * 6 * 6)
    expected += 2 * _columns(fc.weight) * _columns(fc.weight) * 2 * 3
    assert croze(model, x, y, eps=0.0) == pytest.approx(expected, rel=1e-9)


def test_croze_scores_the_surrogate_on_perturbed_inputs_and_leaves_the_network_alone() -> None:
    model, (x, y) = _net(), _batch()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    score = croze(model, x, y, eps=0.1)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key  # scored on a copy
    every_cosine_one = 2 * 9 * 9 * 2 * (4 * 6 * 6) + 2 * 144 * 144 * 2 * 3
    assert 0 < score < every_cosine_one  # the surrogate's weights and inputs differ
    assert croze(model, x, y, eps=0.1) == score  # a function of its inputs


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def _survey(config: Path, directory: Path, *extra: str) -> int:
    return main(
        ["survey", "--config", str(config), "--dir", str(directory), "--count", "1", *extra]
    )


def _stale(directory: Path) -> dict[str, float]:
    """Make the survey's one row look measured by the first definitions: other proxy
    values and no version recorded; returns its metrics so."""
    [row] = _stored(directory)
    stale = {**row.metrics, **dict.fromkeys(PROXIES, 7.0)}
    seconds = {**row.seconds, "proxies": 1234.0}
    with sqlite3.connect(directory / DB_NAME) as db:
        db.execute(
            "UPDATE architectures SET metrics = ?, seconds = ?",
            (json.dumps(stale), json.dumps(seconds)),
        )
        db.execute("DELETE FROM meta WHERE key = 'proxies'")
    return stale


def test_a_survey_of_earlier_definitions_is_measured_again_once(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "survey"
    assert _survey(tiny, directory) == 0
    [row] = _stored(directory)
    assert _reading(directory, SurveyStore.proxy_definitions) == PROXY_DEFINITIONS
    stale = _stale(directory)
    capsys.readouterr()
    assert _survey(tiny, directory, "--report") == 0  # read only: says so, changes nothing
    assert "follow an earlier version's definitions (1" in capsys.readouterr().err
    assert "earlier version's definitions" in (directory / "SURVEY.md").read_text()
    assert _stored(directory)[0].metrics == stale

    assert _survey(tiny, directory) == 0
    assert "measuring the training-free proxies of 1 rows again" in capsys.readouterr().err
    [again] = _stored(directory)
    assert again.metrics == row.metrics  # the same network: seeded by index
    assert again.seconds["proxies"] != 1234.0  # the time of this measurement
    assert {k: v for k, v in again.seconds.items() if k != "proxies"} == {
        k: v for k, v in row.seconds.items() if k != "proxies"
    }
    assert _reading(directory, SurveyStore.proxy_definitions) == PROXY_DEFINITIONS
    assert _survey(tiny, directory) == 0
    assert "again" not in capsys.readouterr().err
    assert _survey(tiny, directory, "--report") == 0
    assert "earlier version's definitions" not in (directory / "SURVEY.md").read_text()


def test_kept_search_time_numbers_get_this_versions_proxies(tiny: Path, tmp_path: Path) -> None:
    """An architecture a kill interrupted keeps its search-time numbers, but proxies an
    earlier version measured are measured again, with their seconds (the rest is not:
    its seconds stay)."""
    directory = tmp_path / "survey"
    assert _survey(tiny, directory) == 0
    [row] = _stored(directory)
    arch = directory / "models" / "arch-0"
    kept = json.loads((arch / SEARCH_TIME).read_text())
    assert kept["proxies"] == PROXY_DEFINITIONS
    old = {**kept, "metrics": {**kept["metrics"], **dict.fromkeys(PROXIES, 7.0)}}
    del old["proxies"]  # written before the version was kept
    old["seconds"] = {"proxies": 1.0, "search": 9.0}
    (arch / SEARCH_TIME).write_text(json.dumps(old))
    (arch / CLOCK_FILE).write_text('{"seconds": 1000.0}')  # what the killed attempts spent
    with sqlite3.connect(directory / DB_NAME) as db:
        db.execute("DELETE FROM architectures")  # killed before its row was committed
    assert _survey(tiny, directory) == 0
    [again] = _stored(directory)
    assert again.metrics == row.metrics
    assert again.seconds["search"] == 9.0 and again.seconds["proxies"] != 1.0
    # the row keeps the search's 9 s of the killed attempts, not their proxies' 1 s: the
    # rest of their 1000 s counts as earlier attempts'
    assert again.seconds[EARLIER] == 1000.0 - 9.0
    assert json.loads((arch / SEARCH_TIME).read_text())["proxies"] == PROXY_DEFINITIONS
    assert "measured by an earlier attempt" in (arch / PROGRESS_LOG).read_text()


def test_a_diverged_retraining_keeps_the_search_times_verdict(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The row's status says the retraining diverged; its reason keeps what the search's
    budget had found (healthy or ill-fitted), which the report's split needs."""
    config = load_config(tiny)
    data = load_survey_data(config, torch.device("cpu"))

    def diverge(*_args: object, **_kwargs: object) -> dict[str, float]:
        raise TrainingDiverged("loss nan at epoch 1")

    monkeypatch.setattr(rows, "_ground_truth", diverge)
    record = measure(config, structure_for(config), data, 0, tmp_path / "models")
    kept = json.loads((tmp_path / "models" / "arch-0" / SEARCH_TIME).read_text())
    assert record.status == "diverged"
    verdict = kept["status"] + (f" ({kept['reason']})" if kept["reason"] else "")
    assert record.reason == f"post-search training: loss nan at epoch 1; at search time {verdict}"
    assert "clean_accuracy" in record.metrics and "final_clean" not in record.metrics
