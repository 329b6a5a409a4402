"""Contracts every registered plug-in keeps, parametrised over the registries, so a new
measurement, dataset or executor is checked the moment it is registered.

* a measurement returns exactly the metrics it declares (``provides``), on a tiny
  trained network: the config check and the objectives rely on the declaration;
* a dataset loads as uint8 ``(N, C, H, W)`` images with int64 labels in range, under
  the name it is registered as (the built-ins that need files read tiny generated ones);
* an executor made from a config naming it evaluates a trivial request
  (``helpers_executors.assert_runs_a_trivial_evaluation``; Ray's is checked in
  ``test_ray_executor.py``, on the cluster that module starts once).

The strategy, encoding and attack contracts are in ``test_plugins.py``,
``test_encodings.py`` and ``test_attack_contract.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers_executors import assert_runs_a_trivial_evaluation, tiny_config, tiny_spec
from test_data_idx import make_fashion
from test_data_imagefolder import make_folder
from test_transfer_set import hand_set

from neronet.augment import DeviceData, to_float
from neronet.data import DATASETS, load_dataset, make_splits
from neronet.evaluation.measurements import MEASUREMENTS, Trained
from neronet.execution import EXECUTORS, make_executor
from neronet.nn import build
from neronet.train.core import predict
from neronet.transfer.artifact import write_transfer_set

EXECUTORS_TESTED_ELSEWHERE = {"ray"}
"""Executors whose start-up is slow and whose own test module already starts one."""


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """A tiny network trained for a few steps on digits, and a transfer set for it."""
    data = DeviceData.from_splits(make_splits(load_dataset("digits"), 300, 100, 100, 0), "cpu")
    spec = tiny_spec()
    torch.manual_seed(0)
    model = build(spec)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    x = to_float(data.train.x)
    for step in range(30):
        batch = slice(step % 6 * 50, step % 6 * 50 + 50)
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x[batch]), data.train.y[batch]).backward()
        optimizer.step()
    model.eval()
    transfer_set = tmp_path_factory.mktemp("transfer") / "set.safetensors"
    write_transfer_set(transfer_set, hand_set())
    config = tiny_config()
    return Trained(
        spec,
        model,
        data,
        config.fitness,
        config.training.model_copy(update={"channels_last": False}),
        None,
        predict(model, data.fitness.x, 100),
        str(transfer_set),
        config.sections,
    )


@pytest.mark.parametrize("name", MEASUREMENTS.names())
def test_every_measurement_returns_what_it_provides(name: str, trained: Trained) -> None:
    assert trained.clean_correct.any()  # something for the attacks to attack
    measurement = MEASUREMENTS.get(name)
    metrics = measurement.fn(trained)
    assert sorted(metrics) == sorted(measurement.provides)
    assert all(isinstance(v, float | int) and math.isfinite(v) for v in metrics.values())


SOURCES: dict[str, Callable[[Path], object]] = {
    "fashion-mnist": make_fashion,  # the four IDX files
    "cifar10": partial(make_folder, test=True),  # an image folder with a test split
}
"""Writers of tiny copies of the datasets that read files; the others take no path."""


@pytest.mark.parametrize("name", DATASETS.names())
def test_every_dataset_is_uint8_nchw_with_labels_in_range(name: str, tmp_path: Path) -> None:
    path = None
    if name in SOURCES:
        path = tmp_path / "source"
        SOURCES[name](path)
    ds = load_dataset(name, path, cache_dir=tmp_path / "cache")
    assert ds.name == name and ds.classes
    parts = [(ds.x_train, ds.y_train)]
    if ds.x_test is not None and ds.y_test is not None:
        parts.append((ds.x_test, ds.y_test))
    for x, y in parts:
        assert x.dtype == np.uint8 and x.ndim == 4 and x.shape[1] in (1, 3)
        assert x.shape[1:] == ds.input_shape and len(x) == len(y) > 0
        assert y.dtype == np.int64 and y.min() >= 0 and y.max() < len(ds.classes)


@pytest.mark.parametrize(
    "name", [n for n in EXECUTORS.names() if n not in EXECUTORS_TESTED_ELSEWHERE]
)
def test_every_executor_runs_a_trivial_evaluation(name: str) -> None:
    config = tiny_config(f"executor.kind={name}", "executor.workers=1")
    with make_executor(config) as executor:
        assert_runs_a_trivial_evaluation(executor, config)


def test_executors_tested_elsewhere_are_registered() -> None:
    assert set(EXECUTORS.names()) >= EXECUTORS_TESTED_ELSEWHERE
