"""Export an evaluated individual for use without neronet or the run directory.

* ``*.safetensors``: the weights, with the NetworkSpec JSON in the metadata.
* ``*.py``: a standalone PyTorch module definition plus the weights beside it as
  ``<name>.safetensors``, loadable with the file's ``load_model()`` (needs torch and
  safetensors, not neronet).
* ``*.onnx``: the network traced with its weights (needs the ``onnx`` extra:
  ``pip install 'neronet-evo[onnx]'``).
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from neronet import __version__
from neronet.artifact import read_model_file, safetensors_bytes
from neronet.errors import NeronetError, StoreError
from neronet.nn import build, export_source
from neronet.outputs import check_output
from neronet.spec import NetworkSpec
from neronet.store import IndividualRow, RunStore, atomic_write


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    """safetensors weights, or a one-line error naming the corrupt file."""
    try:
        return load_file(str(path))
    except Exception as err:  # safetensors raises several types for corrupt files
        raise StoreError(
            f"weights file '{path}' is corrupt ({err}); restore or re-export it"
        ) from None


def load_individual(
    run_dir: str | Path, individual_id: int | None
) -> tuple[IndividualRow, NetworkSpec, dict[str, torch.Tensor]]:
    """The individual (default: best), its spec and trained weights."""
    store = RunStore.open(run_dir, readonly=True)
    try:
        row = store.best() if individual_id is None else store.individual(individual_id)
        if row is None:
            raise StoreError(f"'{run_dir}' has no finished generation yet; pass --id or let it run")
        source = store.individual(row.cache_of) if row.cache_of is not None else row
        if "spec" not in row.record:
            raise StoreError(f"individual {row.id} has no network spec stored; choose another --id")
        path = store.blob_path(source, "weights")
        if path is None or not path.is_file():
            raise StoreError(
                f"weights of individual {row.id} are not kept (status {row.status}, or pruned "
                "by the keep policy); export the best or a generation's parent instead"
            )
        weights = _read_weights(path)
    finally:
        store.close()
    return row, NetworkSpec.from_dict(row.record["spec"]), weights


def fitted_model(spec: NetworkSpec, weights: dict[str, torch.Tensor], origin: str) -> nn.Module:
    """``spec`` built with ``weights`` loaded, in eval mode; a one-line error when the
    weights are another network's (a weights file swapped or copied over)."""
    model = build(spec)
    try:
        model.load_state_dict(weights)
    except RuntimeError:
        raise StoreError(
            f"the weights of {origin} do not fit its architecture (they are another "
            "network's); restore or re-export them"
        ) from None
    return model.eval()


class WindowMax(nn.Module):
    """``AdaptiveMaxPool2d`` written as its explicit windows, which ONNX can express.

    ONNX has no adaptive max pool, and a merge of maps whose sizes do not divide
    uses one. Output row ``i`` of ``o`` takes input rows ``[floor(i*H/o),
    ceil((i+1)*H/o))`` (likewise columns), exactly PyTorch's windows; a maximum
    over a rectangle is the maximum over its columns of the maxima over its rows,
    so the result is identical.
    """

    def __init__(self, in_hw: tuple[int, int], out_hw: tuple[int, int]) -> None:
        super().__init__()
        self.rows = _windows(in_hw[0], out_hw[0])
        self.cols = _windows(in_hw[1], out_hw[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([x[:, :, a:b].amax(dim=2, keepdim=True) for a, b in self.rows], dim=2)
        return torch.cat([x[:, :, :, a:b].amax(dim=3, keepdim=True) for a, b in self.cols], dim=3)


def _windows(size: int, out: int) -> list[tuple[int, int]]:
    return [((i * size) // out, -((-(i + 1) * size) // out)) for i in range(out)]


def _explicit_window_pools(model: nn.Module, example: torch.Tensor) -> None:
    """Replace every ``AdaptiveMaxPool2d`` of ``model`` by its :class:`WindowMax`."""
    found: dict[str, tuple[int, int]] = {}

    def seen(name: str) -> Callable[[nn.Module, tuple[torch.Tensor, ...]], None]:
        def hook(module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            found[name] = (int(args[0].shape[-2]), int(args[0].shape[-1]))

        return hook

    hooks = [
        module.register_forward_pre_hook(seen(name))
        for name, module in model.named_modules()
        if isinstance(module, nn.AdaptiveMaxPool2d)
    ]
    with torch.no_grad():
        model(example)
    for hook in hooks:
        hook.remove()
    for name, in_hw in found.items():
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        pool = getattr(parent, attr)
        out = pool.output_size
        out_hw = (out, out) if isinstance(out, int) else tuple(out)
        setattr(parent, attr, WindowMax(in_hw, out_hw))


def _export_onnx(spec: NetworkSpec, weights: dict[str, torch.Tensor], out: Path) -> None:
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401  (the dynamo exporter writes through it)
    except ImportError:
        raise NeronetError(
            "ONNX export needs the onnx extra: pip install 'neronet-evo[onnx]'"
        ) from None
    model = fitted_model(spec, weights, "the individual")
    dummy = torch.zeros(1, *spec.input_shape)
    _explicit_window_pools(model, dummy)
    with tempfile.TemporaryDirectory() as tmp, _exporter_quiet():
        path = Path(tmp) / "model.onnx"
        torch.onnx.export(
            model,
            (dummy,),
            str(path),
            input_names=["input"],
            output_names=["logits"],
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            external_data=False,  # one self-contained file
            dynamo=True,
            verbose=False,
        )
        atomic_write(out, path.read_bytes())


@contextlib.contextmanager
def _exporter_quiet() -> Iterator[None]:
    """torch.onnx's exporter prints its progress (``[torch.onnx] ...``) on stdout and
    warns about deprecations on stderr; neither is the user's business. Its errors
    still raise."""
    with (
        contextlib.redirect_stdout(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        yield


def _run_threat(run_dir: str | Path) -> dict[str, str]:
    """The run's dataset and threat record, so ``neronet attack FILE`` needs no
    ``--dataset`` and attacks at the search's own eps by default, as it does for the run."""
    store = RunStore.open(run_dir, readonly=True)
    try:
        config = store.config()
    finally:
        store.close()
    return {"dataset": config.data.dataset, **config.threat.metadata()}


def export_individual(
    run_dir: str | Path, individual_id: int | None, out: Path, *, force: bool = False
) -> list[Path]:
    """Write the export ``out`` asks for (by suffix); returns the files written. An
    existing file is replaced only with ``force``; a run's own files never are."""
    suffix = out.suffix.lower()
    if suffix not in (".py", ".safetensors", ".onnx"):
        raise NeronetError(f"--out '{out}' must end in .py, .safetensors or .onnx")
    weights_out = out if suffix != ".py" else out.with_suffix(".safetensors")
    for path in dict.fromkeys((out, weights_out)):
        check_output(path, force=force)
    row, spec, weights = load_individual(run_dir, individual_id)
    fitted_model(spec, weights, f"individual {row.id} of '{run_dir}'")  # never export a misfit
    metadata = {
        "spec": spec.to_json(),
        "neronet_version": __version__,
        "individual": str(row.id),
        **_run_threat(run_dir),
    }
    if suffix == ".onnx":
        _export_onnx(spec, weights, out)
        return [out]
    atomic_write(weights_out, safetensors_bytes(weights, metadata))
    if suffix == ".safetensors":
        return [weights_out]
    class_name = "NeroNet"
    atomic_write(out, export_source(spec, class_name=class_name, loader=True).encode())
    return [out, weights_out]


def spec_from_safetensors(path: str | Path) -> tuple[NetworkSpec, dict[str, torch.Tensor]]:
    """Read back a ``.safetensors`` export: its validated spec (from metadata) and weights."""
    file = Path(path)
    spec, _ = read_model_file(file)
    return spec, _read_weights(file)
