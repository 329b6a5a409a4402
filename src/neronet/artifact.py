"""Model files (``.safetensors`` exports and trained models, spec ``.json``): reading them
safely, and writing them byte for byte reproducibly.

A model file may come from anyone, so the NetworkSpec read from it is checked
as strictly as one neronet builds: a size limit before parsing (a 99 MB
metadata string is not a spec), JSON that may not nest deeper than the parser's
stack, and a schema with exact types (no ``"3"`` for 3, no ``true`` for 1, no
unknown keys). Every failure is one line naming the file; the architecture
itself (layer parameters, wiring, shapes) is then checked by the planner of
:mod:`neronet.nn` before anything is allocated. All readers of model files go
through this module, so the checks cannot be skipped by one of them.

Writers go through :func:`safetensors_bytes`: the safetensors library writes its
metadata in hash-map order, so two identical trainings wrote files of different
bytes; here the header is re-serialised with sorted keys.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save

from neronet.errors import NeronetError
from neronet.spec import NetworkSpec
from neronet.spec_check import spec_from_data

# A NERO-Net spec is a few dozen nodes, tens of kilobytes of JSON.
MAX_SPEC_BYTES = 1 << 20
_FIX = "pass a model written by neronet export or neronet train"


def spec_from_text(text: str, origin: str) -> NetworkSpec:
    """The NetworkSpec in ``text`` (JSON), or a one-line error naming ``origin``."""
    if len(text) > MAX_SPEC_BYTES:
        raise NeronetError(
            f"the network spec in {origin} is {len(text):,} bytes, more than the "
            f"{MAX_SPEC_BYTES:,} a neronet spec can take; {_FIX}"
        )
    try:
        data: Any = json.loads(text)
    except RecursionError:
        raise NeronetError(f"the network spec in {origin} is nested too deeply; {_FIX}") from None
    except ValueError as err:
        raise NeronetError(f"the network spec in {origin} is not JSON ({err}); {_FIX}") from None
    try:
        return spec_from_data(data)
    except ValueError as err:
        raise NeronetError(f"the network spec in {origin} is {err}; {_FIX}") from None


def read_metadata(path: Path) -> dict[str, str]:
    """The metadata of a ``.safetensors`` file, or a one-line error when it is not one."""
    from safetensors import safe_open

    if not path.is_file():
        raise NeronetError(f"model file '{path}' not found; {_FIX}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except Exception as err:  # safetensors raises several types for corrupt files
        raise NeronetError(f"'{path}' is not a valid safetensors file ({err}); {_FIX}") from None


def read_model_file(path: Path) -> tuple[NetworkSpec, dict[str, str]]:
    """The validated spec and the metadata of a ``.safetensors`` model file."""
    meta = read_metadata(path)
    if "spec" not in meta:
        raise NeronetError(f"'{path}' has no neronet spec in its metadata; {_FIX}")
    return spec_from_text(meta["spec"], f"'{path}'"), meta


def safetensors_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    """``safetensors.torch.save`` with a canonical header (sorted keys, no blanks), so the
    same tensors and metadata always give the same bytes."""
    data = save(tensors, metadata=metadata)
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    canonical = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    canonical += b" " * (-len(canonical) % 8)  # the format pads the header to 8 bytes
    return struct.pack("<Q", len(canonical)) + canonical + data[8 + length :]
