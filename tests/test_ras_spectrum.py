"""The RAS spectrum of a hand-counted model, and the scaled closest-representative rule."""

from __future__ import annotations

import numpy as np
import pytest

from neronet.ras import FEATURES, Conv, Dense, closest, scale, spectrum
from neronet.ras.dag import Dag

C, D = Conv(8, 3, 1), Dense(64)


def test_spectrum_of_a_hand_built_model() -> None:
    a = Dag((C, D, C), ((0, 1), (0, 2)))  # conv->dense, conv->conv; sinks: dense, conv
    b = Dag((D, C))  # unwired: both layers are entries and sinks
    c = Dag((C,))
    model = Dag((a, b, c), ((0, 1), (0, 2), (1, 2)))
    # a->b: {dense, conv} x {dense, conv}: one of each pair; a->c: d->c, c->c; b->c: d->c, c->c
    expected = {
        "blocks": 3,
        "layers": 6,
        "block_connections": 3,
        "layer_connections": 2,
        "dense_layers": 2,
        "conv_layers": 4,
        "dense_dense": 1,
        "dense_conv": 3,
        "conv_dense": 1 + 1,
        "conv_conv": 1 + 1 + 1 + 1,
    }
    assert dict(zip(FEATURES, spectrum(model), strict=True)) == expected


def test_scaling_decides_the_closest_representative() -> None:
    child, representatives = (50, 0), [(40, 1), (100, 0)]
    plain = np.linalg.norm(np.subtract(representatives, child), axis=1)
    assert int(np.argmin(plain)) == 0
    # the second feature barely varies, so one unit of it outweighs 50 of the first
    assert closest(child, representatives) == 1


def test_constant_features_are_left_unscaled() -> None:
    rows = scale([(1, 5), (3, 5)])
    assert np.all(np.isfinite(rows)) and list(rows[:, 1]) == [5, 5]
    assert list(rows[:, 0]) == [1, 3]  # std of (1, 3) is 1
    assert closest((4, 5), [(1, 5), (3, 5)]) == 1
    assert closest((2, 5), [(1, 5), (3, 5)]) == 0  # tie: the lowest index
    with pytest.raises(ValueError, match="at least one"):
        closest((1, 2), [])
