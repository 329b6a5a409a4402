"""RAS models compile to NetworkSpecs that build and run, or are rejected with a reason."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from neronet.errors import InvalidArchitecture
from neronet.nn import build, export_source, infer_shapes
from neronet.ras import Conv, Dense, RasGenotype, initial_population, mutate
from neronet.ras.dag import Dag
from neronet.ras.decode import reshape_target, to_network_spec
from neronet.spec import LayerSpec, NetworkSpec, NodeSpec


def _run(model: Dag, shape: tuple[int, int, int]) -> list[tuple[int, ...]]:
    """Node shapes of the compiled model, after checking a forward pass gives 10 logits."""
    spec = to_network_spec(model, shape, 10)
    with torch.no_grad():
        assert build(spec).eval()(torch.rand(2, *shape)).shape == (2, 10)
    return infer_shapes(spec)


def test_conv_to_dense_flattens() -> None:
    model = Dag((Dag((Conv(8, 3, 2), Dense(64)), ((0, 1),)),))
    assert _run(model, (1, 8, 8)) == [(8, 4, 4), (64,), (10,)]


@pytest.mark.parametrize(
    ("units", "shape", "expected"),
    [(128, (3, 32, 32), (2, 8, 8)), (512, (1, 8, 8), (8, 8, 8)), (64, (1, 8, 8), (1, 8, 8))],
)
def test_dense_to_conv_reshapes_into_the_largest_square(units, shape, expected) -> None:
    assert reshape_target(units, shape) == expected
    model = Dag((Dag((Dense(units), Conv(16, 3, 1)), ((0, 1),)),))
    assert _run(model, shape) == [(units,), expected, (16, *expected[1:]), (10,)]


def test_several_inputs_are_concatenated_at_the_smallest_size() -> None:
    block = Dag((Conv(8, 3, 1), Conv(16, 3, 2), Dense(64), Conv(4, 1, 1)), ((0, 3), (1, 3), (2, 3)))
    # 8x32x32 and 16x16x16 and the dense as 1x8x8 -> 25 channels at 8x8
    assert _run(Dag((block,)), (3, 32, 32))[-2] == (4, 8, 8)
    spec = to_network_spec(Dag((block,)), (3, 32, 32), 10)
    assert build(spec).nodes[4][0].in_channels == 25


def test_blocks_feed_their_sinks_forward() -> None:
    first = Dag((Conv(8, 3, 2), Dense(64)))  # two sinks
    second = Dag((Conv(4, 3, 1),))
    spec = to_network_spec(Dag((first, second), ((0, 1),)), (1, 8, 8), 10)
    conv = spec.nodes[3]
    assert conv.inputs == (0, 2) and spec.nodes[2].layers[0].kind == "reshape"
    assert spec.nodes[-1].inputs == (3,)


def test_unbuildable_models_are_rejected_with_a_reason() -> None:
    with pytest.raises(InvalidArchitecture, match="block 1 of the RAS model has no layers"):
        to_network_spec(Dag((Dag((Dense(64),)), Dag(()))), (1, 8, 8), 10)
    huge = Dag((Dag((Conv(64, 1, 1), Dense(512)), ((0, 1),)),))
    with pytest.raises(InvalidArchitecture, match="parameters, more than the limit"):
        RasGenotype(huge, train_time=1.0).decode((3, 64, 64), 10)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_random_models_decode_or_are_rejected(seed: int) -> None:
    rng = np.random.default_rng(seed)
    population, models = initial_population(rng, models=3)
    models += [mutate(m, population, rng)[0] for m in models]
    for model in models:
        genotype = RasGenotype.resolve(model, population, train_time=1.0)
        for shape in ((1, 8, 8), (3, 32, 32)):
            try:
                spec, _ = genotype.decode(shape, 10)
            except InvalidArchitecture as error:
                assert str(error)
            else:
                assert infer_shapes(spec)[-1] == (10,)


# --- the reshape layer kind ----------------------------------------------------------------


def _reshaping(target: tuple[int, int, int]) -> NetworkSpec:
    params = dict(zip(("channels", "height", "width"), target, strict=True))
    return NetworkSpec(
        (1, 4, 4),
        3,
        (
            NodeSpec("fc", (-1,), (LayerSpec("fc", {"units": 12, "bias": True}),)),
            NodeSpec("map", (0,), (LayerSpec("reshape", params),)),
            NodeSpec(
                "again", (1,), (LayerSpec("reshape", {"channels": 12, "height": 1, "width": 1}),)
            ),
            NodeSpec("out", (2,), (LayerSpec("fc", {"units": 3, "bias": True}),)),
        ),
    )


def test_reshape_builds_exports_and_rejects_a_size_mismatch() -> None:
    spec = _reshaping((3, 2, 2))
    assert infer_shapes(spec) == [(12,), (3, 2, 2), (12, 1, 1), (3,)]
    model = build(spec).eval()
    namespace: dict[str, object] = {"__name__": "exported"}
    exec(compile(export_source(spec, "Reshaped"), "<exported>", "exec"), namespace)
    exported = namespace["Reshaped"]().eval()
    exported.load_state_dict(model.state_dict())
    x = torch.rand(2, 1, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(exported(x), model(x), rtol=0, atol=0)
        assert torch.equal(model.nodes[1](model.nodes[0](x)).flatten(1), model.nodes[0](x))
    with pytest.raises(InvalidArchitecture, match="cannot reshape"):
        build(_reshaping((2, 2, 2)))


def test_a_per_pixel_dense_keeps_the_map_with_the_parameters_of_a_1x1_conv() -> None:
    """``ras.dense: per_pixel`` is the authors' Keras Dense on a feature map: it acts on
    each pixel's channels, i.e. a 1x1 conv, so the map keeps its height and width."""
    block = Dag((Conv(8, 3, 2), Dense(64), Conv(4, 3, 1)), ((0, 1), (1, 2)))
    spec = to_network_spec(Dag((block,)), (1, 8, 8), 10, dense="per_pixel")
    assert infer_shapes(spec)[:3] == [(8, 4, 4), (64, 4, 4), (4, 4, 4)]  # no reshape node
    dense = build(spec).nodes[1][0]
    assert isinstance(dense, torch.nn.Conv2d) and dense.kernel_size == (1, 1)
    count = sum(p.numel() for p in dense.parameters())
    assert count == sum(p.numel() for p in torch.nn.Conv2d(8, 64, 1).parameters()) == 8 * 64 + 64
    with torch.no_grad():
        assert build(spec).eval()(torch.rand(2, 1, 8, 8)).shape == (2, 10)


@pytest.mark.parametrize("dense", ["flatten", "per_pixel"])
def test_the_gpool_head_pools_globally_before_the_logits(dense: str) -> None:
    block = Dag((Conv(8, 3, 1), Dense(64)), ((0, 1),))  # a dense sink: flat unless per pixel
    spec = to_network_spec(Dag((block,)), (1, 8, 8), 10, dense=dense, head="gpool")
    assert [layer.kind for layer in spec.nodes[-1].layers] == ["gpool", "fc"]
    with torch.no_grad():
        assert build(spec).eval()(torch.rand(2, 1, 8, 8)).shape == (2, 10)


def test_dense_and_head_travel_with_the_genotype() -> None:
    population, models = initial_population(np.random.default_rng(0), 1, (1, 2), (1, 2))
    plain = RasGenotype.resolve(models[0], population, 10.0)
    assert "dense" not in plain.to_dict() and "head" not in plain.to_dict()  # old JSON as it was
    keras = RasGenotype.resolve(models[0], population, 10.0, dense="per_pixel", head="gpool")
    back = RasGenotype.from_json(keras.to_json())
    assert (back.dense, back.head) == ("per_pixel", "gpool") and back == keras
    spec, _ = back.decode((1, 8, 8), 10)
    assert spec.nodes[-1].layers[0].kind == "gpool"
