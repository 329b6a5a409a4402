"""Export an evaluated individual for use without neronet or the run directory.

* ``*.safetensors``: the weights, with the NetworkSpec JSON in the metadata.
* ``*.py``: a standalone PyTorch module definition plus the weights beside it as
  ``<name>.safetensors``, loadable with the file's ``load_model()`` (needs torch and
  safetensors, not neronet).
* ``*.onnx``: the network traced with its weights (needs the ``onnx`` extra:
  ``pip install 'neronet-evo[onnx]'``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file

from neronet import __version__
from neronet.artifact import read_model_file, safetensors_bytes
from neronet.errors import NeronetError, StoreError
from neronet.nn import build, export_source
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


def _export_onnx(spec: NetworkSpec, weights: dict[str, torch.Tensor], out: Path) -> None:
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401  (the dynamo exporter writes through it)
    except ImportError:
        raise NeronetError(
            "ONNX export needs the onnx extra: pip install 'neronet-evo[onnx]'"
        ) from None
    model = build(spec)
    model.load_state_dict(weights)
    model.eval()
    dummy = torch.zeros(1, *spec.input_shape)
    with tempfile.TemporaryDirectory() as tmp:
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
        )
        atomic_write(out, path.read_bytes())


def export_individual(run_dir: str | Path, individual_id: int | None, out: Path) -> list[Path]:
    """Write the export ``out`` asks for (by suffix); returns the files written."""
    suffix = out.suffix.lower()
    if suffix not in (".py", ".safetensors", ".onnx"):
        raise NeronetError(f"--out '{out}' must end in .py, .safetensors or .onnx")
    row, spec, weights = load_individual(run_dir, individual_id)
    metadata = {"spec": spec.to_json(), "neronet_version": __version__, "individual": str(row.id)}
    if suffix == ".onnx":
        _export_onnx(spec, weights, out)
        return [out]
    weights_out = out if suffix == ".safetensors" else out.with_suffix(".safetensors")
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
