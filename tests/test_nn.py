"""neronet.nn: NetworkSpec -> nn.Module, shape inference, cost, export."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from neronet.errors import InvalidArchitecture, NeronetError
from neronet.nn import (
    GraphNet,
    build,
    check_size,
    count_parameters,
    estimate_flops,
    export_source,
    infer_shapes,
)
from neronet.nn.calls import Call
from neronet.spec import ACTIVATIONS, LayerSpec, NetworkSpec, NodeSpec, ParamValue

# --- spec helpers -----------------------------------------------------------------------------


def conv(
    filters: int, kernel: int = 3, stride: int = 1, padding: str = "same", bias: bool = False
) -> LayerSpec:
    params = {"filters": filters, "kernel": kernel, "stride": stride, "padding": padding}
    return LayerSpec("conv", {**params, "bias": bias})


def pool(op: str = "max", kernel: int = 2, stride: int = 2, padding: str = "valid") -> LayerSpec:
    return LayerSpec("pool", {"op": op, "kernel": kernel, "stride": stride, "padding": padding})


def fc(units: int, bias: bool = True) -> LayerSpec:
    return LayerSpec("fc", {"units": units, "bias": bias})


def act(fn: str = "relu") -> LayerSpec:
    return LayerSpec("act", {"fn": fn})


def gpool(op: str = "avg") -> LayerSpec:
    return LayerSpec("gpool", {"op": op})


BN = LayerSpec("bn")
DROPOUT = LayerSpec("dropout", {"rate": 0.25})


def node(inputs: tuple[int, ...], *layers: LayerSpec) -> NodeSpec:
    return NodeSpec(block="test", inputs=inputs, layers=layers)


def net(
    *nodes: NodeSpec, shape: tuple[int, int, int] = (3, 32, 32), classes: int = 10
) -> NetworkSpec:
    return NetworkSpec(input_shape=shape, num_classes=classes, nodes=nodes)


def node_outputs(model: GraphNet, x: torch.Tensor) -> list[torch.Tensor]:
    """Run ``model`` on ``x`` and return every node's output (via forward hooks)."""
    outputs: list[torch.Tensor] = []
    hooks = [n.register_forward_hook(lambda _m, _i, out: outputs.append(out)) for n in model.nodes]
    try:
        model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return outputs


def check_against_module(spec: NetworkSpec, batch: int = 2) -> GraphNet:
    """Build ``spec``, run it, and check shapes and parameter count against inference."""
    shapes = infer_shapes(spec)
    model = build(spec)
    x = torch.rand(batch, *spec.input_shape)
    outputs = node_outputs(model, x)
    assert [tuple(o.shape[1:]) for o in outputs] == shapes
    assert outputs[-1].shape == (batch, spec.num_classes)
    assert count_parameters(spec) == sum(p.numel() for p in model.parameters())
    return model


# A network touching every layer kind, several merges, explicit pads and flattening.
EVERYTHING = net(
    node((-1,), conv(8, 3, 1), BN, act("relu")),  # 0: 8x32x32
    node((0,), conv(8, 3, 2, bias=True), act("silu"), DROPOUT),  # 1: 8x16x16
    node((1, 0, -1), conv(6, 2, 1), pool("avg", 3, 1, "same")),  # 2: merge 19ch -> 6x16x16
    node((2,), pool("max", 2, 1, "same"), pool("max", 3, 3, "valid")),  # 3: 6x5x5
    node((3, 1), conv(4, 1, 1, "valid"), act("gelu")),  # 4: adaptive merge -> 4x5x5
    node((4,), gpool("max")),  # 5: 4x1x1
    node((4, 5), fc(12), BN, act("tanh")),  # 6: fc merge of 100 + 4 features
    node((6, 5), fc(10)),  # 7: mixed 2-D / 4-D inputs
)


# --- shapes and layers ------------------------------------------------------------------------


def test_every_layer_kind_shapes_match_module() -> None:
    assert infer_shapes(EVERYTHING) == [
        (8, 32, 32),
        (8, 16, 16),
        (6, 16, 16),
        (6, 5, 5),
        (4, 5, 5),
        (4, 1, 1),
        (12,),
        (10,),
    ]
    model = check_against_module(EVERYTHING)
    assert model.spec is EVERYTHING
    assert isinstance(model.nodes[6][1], nn.BatchNorm1d)  # merge already flattened
    assert isinstance(model.nodes[0][1], nn.BatchNorm2d)
    assert isinstance(model.nodes[1][2], nn.Dropout)
    assert isinstance(model.nodes[5][0], nn.AdaptiveMaxPool2d)


@pytest.mark.parametrize("fn", ACTIVATIONS)
def test_activations(fn: str) -> None:
    spec = net(node((-1,), fc(10), act(fn)), shape=(1, 2, 2))
    model = build(spec).eval()
    x = torch.rand(3, 1, 2, 2)
    logits = model.nodes[0][:2](x)  # flatten + linear
    expected = {
        "relu": F.relu,
        "silu": F.silu,
        "linear": lambda t: t,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "elu": F.elu,
        "gelu": F.gelu,
    }[fn](logits)
    torch.testing.assert_close(model(x), expected)


@pytest.mark.parametrize("kind", ["conv", "max", "avg"])
@pytest.mark.parametrize("kernel", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_same_padding_outputs_ceil_size_over_stride(kind: str, kernel: int, stride: int) -> None:
    layer = conv(2, kernel, stride) if kind == "conv" else pool(kind, kernel, stride, "same")
    for size in (1, 5, 8, 9):
        spec = net(node((-1,), layer), node((0,), fc(3)), shape=(2, size, size + 1), classes=3)
        expected = (-(-size // stride), -(-(size + 1) // stride))
        assert infer_shapes(spec)[0][1:] == expected
        check_against_module(spec)


@pytest.mark.parametrize("kernel,stride", [(1, 1), (2, 2), (3, 1), (3, 2), (5, 3)])
def test_valid_padding_size(kernel: int, stride: int) -> None:
    spec = net(node((-1,), conv(2, kernel, stride, "valid")), node((0,), fc(3)), classes=3)
    size = (32 - kernel) // stride + 1
    assert infer_shapes(spec)[0] == (2, size, size)
    check_against_module(spec)


def test_same_max_pool_pads_with_minus_infinity() -> None:
    # Stride 1 with an even kernel needs the explicit asymmetric pad: it must not win a max.
    spec = net(
        node((-1,), conv(1, 1, 1, bias=True), pool("max", 2, 1, "same")),
        node((0,), fc(2)),
        classes=2,
    )
    model = build(spec)
    with torch.no_grad():
        model.nodes[0][0].weight.zero_()
        model.nodes[0][0].bias.fill_(-1.0)
    (out,) = node_outputs(model, torch.rand(1, 3, 32, 32))[:1]
    assert torch.equal(out, torch.full((1, 1, 32, 32), -1.0))


def test_bn_after_fc_is_batchnorm1d_and_counts() -> None:
    spec = net(node((-1,), fc(6), BN, act()), node((0,), fc(10)), shape=(1, 8, 8))
    model = check_against_module(spec)
    assert isinstance(model.nodes[0][2], nn.BatchNorm1d)
    assert count_parameters(spec) == (64 * 6 + 6) + 2 * 6 + (6 * 10 + 10)


# --- merges -----------------------------------------------------------------------------------


def test_merge_max_pools_to_smallest_and_concatenates_channels() -> None:
    spec = net(
        node((-1,), conv(5, 3, 2)),  # 5x16x16
        node((0, -1)),  # no layers: the merge itself, 8x16x16
        node((1,), fc(10)),
    )
    assert infer_shapes(spec)[1] == (8, 16, 16)
    model = check_against_module(spec)
    x = torch.rand(2, 3, 32, 32)
    first, merged, _ = node_outputs(model, x)
    torch.testing.assert_close(merged, torch.cat([first, F.max_pool2d(x, 2)], 1))


def test_merge_of_indivisible_sizes_uses_adaptive_max_pooling() -> None:
    spec = net(
        node((-1,), conv(4, 5, 1, "valid")),  # 4x8x8
        node((-1,), pool("avg", 4, 1, "valid")),  # 2x9x9
        node((0, 1)),  # 6x8x8
        node((2,), fc(3)),
        shape=(2, 12, 12),
        classes=3,
    )
    assert infer_shapes(spec)[2] == (6, 8, 8)
    model = check_against_module(spec)
    a, b, merged, _ = node_outputs(model, torch.rand(2, 2, 12, 12))
    torch.testing.assert_close(merged, torch.cat([a, F.adaptive_max_pool2d(b, (8, 8))], 1))


def test_fc_with_several_inputs_flattens_each_without_pooling() -> None:
    spec = net(
        node((-1,), conv(2, 3, 2)),  # 2x4x4 = 32
        node((0,), fc(5)),  # 5
        node((-1, 0, 1), fc(10)),  # 64 + 32 + 5 inputs
        shape=(1, 8, 8),
    )
    check_against_module(spec)
    assert count_parameters(spec) == (2 * 9) + (32 * 5 + 5) + (101 * 10 + 10)


def test_mixed_flat_and_spatial_inputs_flatten_and_concatenate() -> None:
    spec = net(
        node((-1,), fc(4)),
        node((0, -1), act("linear")),  # not an fc, but one input is flat: 4 + 64 features
        node((1,), fc(10)),
        shape=(1, 8, 8),
    )
    assert infer_shapes(spec)[1] == (68,)
    model = check_against_module(spec)
    x = torch.rand(2, 1, 8, 8)
    flat, merged, _ = node_outputs(model, x)
    torch.testing.assert_close(merged, torch.cat([flat, x.flatten(1)], 1))


def test_sum_merge_pads_channels_with_zeros_and_adds() -> None:
    """EvoDENSS's relu_agg join: inputs pooled to the smallest map as for concat, then
    zero channels (features) appended up to the widest, then added; export keeps it."""
    spec = net(
        node((-1,), conv(5, 3, 2)),  # 5x4x4
        NodeSpec("sum", (-1, 0), (act("relu"),), merge="sum"),  # 1x8x8 + 5x4x4 -> 5x4x4
        node((1,), fc(6)),
        NodeSpec("sum", (2, 1), (), merge="sum"),  # 6 + 80 features -> 80
        node((3,), fc(10)),
        shape=(1, 8, 8),
    )
    assert infer_shapes(spec)[1] == (5, 4, 4) and infer_shapes(spec)[3] == (80,)
    assert spec.digest() != net(*(replace(n, merge="concat") for n in spec.nodes)).digest()
    assert NetworkSpec.from_json(spec.to_json()) == spec
    model = check_against_module(spec)
    x = torch.rand(2, 1, 8, 8)
    first, joined, dense, flat, _ = node_outputs(model, x)
    image = F.pad(F.max_pool2d(x, 2), (0, 0, 0, 0, 0, 4))
    torch.testing.assert_close(joined, torch.relu(first + image))
    torch.testing.assert_close(flat, joined.flatten(1) + F.pad(dense, (0, 74)))
    exported = _exported_class(spec, "Summed")().eval()
    exported.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        torch.testing.assert_close(exported(x), model.eval()(x), rtol=0, atol=0)


def test_intermediate_outputs_are_released_after_last_use() -> None:
    spec = net(node((-1,), conv(2)), node((0,), conv(2)), node((0, 1, -1), fc(10)))
    model = build(spec)
    assert model.slots == ((0,), (1,), (1, 2, 0))
    assert model.release == ((), (), (0, 1, 2))
    chain = build(net(node((-1,), conv(2)), node((0,), conv(2)), node((1,), fc(10))))
    assert chain.release == ((0,), (1,), (2,))


# --- rejections -------------------------------------------------------------------------------

HEAD = node((0,), fc(10))


def _layer_spec(kind: str, **params: ParamValue) -> NetworkSpec:
    return net(node((-1,), LayerSpec(kind, params)), HEAD)


REJECTED = {
    "unknown layer kind 'lstm'": _layer_spec("lstm"),
    "fn='swish' must be one of": _layer_spec("act", fn="swish"),
    "unknown parameter(s) groups": net(
        node((-1,), LayerSpec("conv", {**conv(4).params, "groups": 2})), HEAD
    ),
    "missing parameter bias": _layer_spec("conv", filters=4, kernel=3, stride=1, padding="same"),
    "filters=0 must be an int >= 1": net(node((-1,), conv(0)), HEAD),
    "kernel=True must be an int >= 1": net(node((-1,), conv(4, True)), HEAD),  # type: ignore[arg-type]
    "kernel=3.0 must be an int >= 1": net(node((-1,), conv(4, 3.0)), HEAD),  # type: ignore[arg-type]
    "padding='full' must be one of": net(node((-1,), conv(4, 3, 1, "full")), HEAD),
    "bias=1 must be a bool": net(node((-1,), fc(10, 1)), shape=(1, 2, 2)),  # type: ignore[arg-type]
    "rate=1.0 must be a number in [0, 1)": _layer_spec("dropout", rate=1.0),
    "op='min' must be one of": _layer_spec("gpool", op="min"),
    "conv needs a (C, H, W) input": net(node((-1,), fc(8)), node((0,), conv(4)), HEAD),
    "pool needs a (C, H, W) input": net(node((-1,), fc(8), pool()), HEAD),
    "gpool needs a (C, H, W) input": net(node((-1,), fc(8), gpool()), HEAD),
    "kernel 5 is larger than the input size 4": net(
        node((-1,), pool("max", 5, 1, "valid")), HEAD, shape=(3, 4, 4)
    ),
    "collapse below 1x1": net(node((-1,), *[conv(2, 3, 1, "valid")] * 4), HEAD, shape=(1, 8, 8)),
    "the last node outputs (4, 32, 32)": net(node((-1,), conv(4))),
    "the last node outputs (7,)": net(node((-1,), fc(7))),
    "input 1 is not an earlier node": net(node((1,), conv(4)), node((-1,), fc(10))),
    "input 0 is not an earlier node": net(node((0,), fc(10))),
    "input -2 is not an earlier node": net(node((-2,), fc(10))),
    "lists the same input twice": net(node((-1,), conv(2)), node((0, 0), fc(10))),
    "node 0 has no inputs": net(node((), fc(10))),
    "the network has no nodes": net(),
    "num_classes 0 must be >= 1": net(node((-1,), fc(1)), classes=0),
    "input shape (3, 0, 32)": net(node((-1,), fc(10)), shape=(3, 0, 32)),
}


@pytest.mark.parametrize("reason", list(REJECTED))
def test_invalid_architectures_are_rejected_with_one_line_reason(reason: str) -> None:
    spec = REJECTED[reason]
    for function in (infer_shapes, count_parameters, estimate_flops, build, export_source):
        with pytest.raises(InvalidArchitecture) as info:
            function(spec)
        message = str(info.value)
        assert reason in message
        assert "\n" not in message


def test_rejection_names_the_node_and_layer() -> None:
    spec = net(
        node((-1,), conv(4)), node((0,), BN, conv(2, 9, 1, "valid"), fc(10)), shape=(1, 8, 8)
    )
    with pytest.raises(InvalidArchitecture, match=r"^node 1 layer 1 \(conv\): kernel 9"):
        infer_shapes(spec)


def test_build_validates_everything_before_allocating(monkeypatch: pytest.MonkeyPatch) -> None:
    huge_then_bad = net(node((-1,), conv(4096, 11)), node((0,), conv(4096, 11)), node((1,), fc(3)))

    def no_allocation(self: Call) -> nn.Module:
        raise AssertionError(f"allocated {self.name} before validation finished")

    monkeypatch.setattr(Call, "make", no_allocation)
    with pytest.raises(InvalidArchitecture, match="last node outputs"):
        build(huge_then_bad)


# --- parameters and FLOPs ---------------------------------------------------------------------


def test_flops_of_a_tiny_network_by_hand() -> None:
    spec = net(
        node((-1,), conv(4, 3, 1, bias=True), BN, act(), pool("max", 2, 2)),  # 4x8x8 -> 4x4x4
        node((0,), conv(2, 1, 2, "valid")),  # 2x2x2
        node((1, 0), fc(10)),  # 8 + 64 features
        shape=(1, 8, 8),
    )
    conv1 = 8 * 8 * 4 * (1 * 3 * 3)  # 2304
    conv2 = 2 * 2 * 2 * (4 * 1 * 1)  # 32
    head = (8 + 64) * 10  # 720
    assert estimate_flops(spec) == conv1 + conv2 + head == 3056
    assert count_parameters(spec) == (36 + 4) + 8 + 8 + (72 * 10 + 10)
    check_against_module(spec)


def test_parameter_count_of_everything_network() -> None:
    check_against_module(EVERYTHING)


def test_initialisation_is_deterministic_under_manual_seed() -> None:
    torch.manual_seed(3)
    first = build(EVERYTHING).state_dict()
    torch.manual_seed(3)
    second = build(EVERYTHING).state_dict()
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    torch.manual_seed(4)
    third = build(EVERYTHING).state_dict()
    assert not torch.equal(first["nodes.0.0.weight"], third["nodes.0.0.weight"])


# --- export -----------------------------------------------------------------------------------


def _exported_class(spec: NetworkSpec, name: str = "NeroNet") -> type[nn.Module]:
    source = export_source(spec, class_name=name)
    assert "import neronet" not in source and "from neronet" not in source
    namespace: dict[str, object] = {"__name__": "exported"}
    exec(compile(source, "<exported>", "exec"), namespace)
    cls = namespace[name]
    assert isinstance(cls, type)
    return cls


def _trained_a_little(spec: NetworkSpec) -> GraphNet:
    """A model whose weights and BN statistics are no longer the defaults."""
    model = build(spec)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(2):
        loss = model(torch.rand(4, *spec.input_shape)).square().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model.eval()


def test_export_round_trip_loads_weights_and_matches_outputs() -> None:
    model = _trained_a_little(EVERYTHING)
    exported = _exported_class(EVERYTHING, "Searched")().eval()
    exported.load_state_dict(model.state_dict(), strict=True)
    x = torch.rand(3, *EVERYTHING.input_shape)
    with torch.no_grad():
        torch.testing.assert_close(exported(x), model(x), rtol=0, atol=0)


def test_export_states_its_requirements_for_users() -> None:
    """The header names what the file needs; graph.py's notes for developers stay out."""
    plain = export_source(EVERYTHING)
    with_loader = export_source(EVERYTHING, loader=True)
    assert "Requires torch only" in plain and "def load_model" not in plain
    assert "Requires torch and safetensors" in with_loader and "def load_model" in with_loader
    for source in (plain, with_loader):
        assert "export_source" not in source and "Keep it free" not in source


def test_export_rejects_a_bad_class_name() -> None:
    with pytest.raises(NeronetError, match="not a Python identifier"):
        export_source(EVERYTHING, class_name="my net")


# --- memory format, autocast, compile ---------------------------------------------------------


def test_channels_last_forward_equals_contiguous() -> None:
    model = _trained_a_little(EVERYTHING)
    x = torch.rand(2, *EVERYTHING.input_shape)
    with torch.no_grad():
        expected = model(x)
        model = model.to(memory_format=torch.channels_last)
        got = model(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_autocast_bfloat16_forward_and_backward() -> None:
    model = build(EVERYTHING)
    x = torch.rand(2, *EVERYTHING.input_shape, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(x)
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()
    logits.float().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_forward_traces_as_one_graph_under_torch_compile() -> None:
    model = build(EVERYTHING).eval()
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    x = torch.rand(2, *EVERYTHING.input_shape)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))


# --- randomised specs -------------------------------------------------------------------------


def _random_layer(rng: np.random.Generator) -> LayerSpec:
    kind = str(rng.choice(["conv", "conv", "bn", "act", "pool", "gpool", "dropout", "fc"]))
    padding = str(rng.choice(["same", "valid"]))
    bias = bool(rng.integers(2))
    if kind == "conv":
        return conv(
            int(rng.integers(1, 9)), int(rng.integers(1, 6)), int(rng.integers(1, 4)), padding, bias
        )
    if kind == "pool":
        return pool(
            str(rng.choice(["max", "avg"])),
            int(rng.integers(1, 6)),
            int(rng.integers(1, 4)),
            padding,
        )
    if kind == "act":
        return act(str(rng.choice(ACTIVATIONS)))
    if kind == "gpool":
        return gpool(str(rng.choice(["max", "avg"])))
    if kind == "dropout":
        return LayerSpec("dropout", {"rate": float(rng.uniform(0, 0.9))})
    if kind == "fc":
        return fc(int(rng.integers(1, 17)), bias)
    return BN


CORRUPTIONS: list[dict[str, ParamValue]] = [
    {"filters": 0},
    {"kernel": -2},
    {"stride": 1.5},
    {"units": False},
    {"fn": "swish"},
    {"rate": 1.5},
    {"op": "sum"},
    {"padding": 2},
    {"dilation": 2},
]


def _corrupt(layer: LayerSpec, rng: np.random.Generator) -> LayerSpec:
    """``layer`` with one parameter broken, added or removed, or with an unknown kind."""
    choice = int(rng.integers(len(CORRUPTIONS) + 2))
    if choice == len(CORRUPTIONS):
        return LayerSpec("attention", layer.params)
    if choice == len(CORRUPTIONS) + 1:
        return LayerSpec(layer.kind, dict(list(layer.params.items())[1:]))
    return LayerSpec(layer.kind, {**layer.params, **CORRUPTIONS[choice]})


def _random_spec(rng: np.random.Generator) -> NetworkSpec:
    shape = ((3, 32, 32), (1, 8, 8))[int(rng.integers(2))]
    count = int(rng.integers(1, 7))
    nodes = []
    for index in range(count):
        if index == 0 or rng.random() < 0.4:
            inputs = (index - 1,)
        else:
            fan_in = int(rng.integers(1, min(index + 1, 3) + 1))
            inputs = tuple(int(i) for i in rng.choice(np.arange(-1, index), fan_in, replace=False))
        layers = [_random_layer(rng) for _ in range(int(rng.integers(0, 4)))]
        if layers and rng.random() < 0.05:
            layers[-1] = _corrupt(layers[-1], rng)
        if rng.random() < 0.02:
            inputs = (index + int(rng.integers(0, 2)),)  # itself or a later node
        nodes.append(node(inputs, *layers))
    classes = int(rng.integers(2, 11))
    if rng.random() < 0.9:
        nodes.append(node((count - 1,), fc(classes)))
    return net(*nodes, shape=shape, classes=classes)


def test_random_specs_build_and_run_or_are_rejected() -> None:
    rng = np.random.default_rng(2024)
    torch.manual_seed(0)
    outcomes = {"built": 0, "rejected": 0}
    for _ in range(200):
        spec = _random_spec(rng)
        try:
            infer_shapes(spec)
        except InvalidArchitecture as error:
            assert "\n" not in str(error)
            with pytest.raises(InvalidArchitecture):
                build(spec)
            outcomes["rejected"] += 1
            continue
        model = check_against_module(spec)
        if outcomes["built"] < 25:
            exported = _exported_class(spec)().eval()
            exported.load_state_dict(model.state_dict())
            x = torch.rand(2, *spec.input_shape)
            with torch.no_grad():
                torch.testing.assert_close(exported(x), model.eval()(x), rtol=0, atol=0)
        outcomes["built"] += 1
    assert outcomes["built"] >= 60 and outcomes["rejected"] >= 20, outcomes


# --- size limit -------------------------------------------------------------------------------


def test_oversized_architecture_is_rejected_before_allocation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """1e8 filters (3.6e11-style networks) fail on the count; no tensor is ever made."""
    huge = net(node((-1,), conv(100_000_000)), node((0,), conv(100_000_000)), node((1,), fc(10)))

    def no_allocation(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a parameter was allocated")

    monkeypatch.setattr(torch, "empty", no_allocation)
    with pytest.raises(InvalidArchitecture) as info:
        build(huge)
    message = str(info.value)
    assert "more than the limit of 100,000,000 (training.max_parameters)" in message
    assert f"{count_parameters(huge):,} parameters" in message and "\n" not in message
    with pytest.raises(InvalidArchitecture, match="limit of 1,000"):
        check_size(EVERYTHING, max_parameters=1_000)
    with pytest.raises(InvalidArchitecture, match="limit of 1,000"):
        build(EVERYTHING, max_parameters=1_000)


def test_architecture_at_the_limit_builds() -> None:
    limit = count_parameters(EVERYTHING)
    check_size(EVERYTHING, max_parameters=limit)
    assert sum(p.numel() for p in build(EVERYTHING, max_parameters=limit).parameters()) == limit


@pytest.mark.parametrize(("h", "w", "oh", "ow"), [(7, 5, 3, 2), (8, 8, 3, 3), (9, 3, 2, 1)])
def test_the_onnx_form_of_adaptive_max_pool_has_its_exact_windows(
    h: int, w: int, oh: int, ow: int
) -> None:
    from neronet.export import WindowMax

    x = torch.randn(2, 3, h, w)
    assert torch.equal(WindowMax((h, w), (oh, ow))(x), nn.AdaptiveMaxPool2d((oh, ow))(x))
