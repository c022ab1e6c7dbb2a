"""Weights files checked against the model their config describes, before any tensor is allocated.

A config.json can describe any model, and a weights file can hold any tensors: both come from
whoever made the checkpoint. The model is first built on the ``meta`` device (shapes, no memory)
and every tensor's name, shape and dtype in the file is compared with it; only a file that holds
exactly that model is then read. A safetensors file's shapes come from its header alone.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ondevice.errors import CheckpointError
from ondevice.model.config import EncoderConfig
from ondevice.model.encoder import Classifier

# name -> (shape, dtype as safetensors spells it: "F32", "BF16", "I64", ...)
TensorInfo = dict[str, tuple[tuple[int, ...], str]]

FLOAT_DTYPES = ("F32", "F16", "BF16", "F64")
_TORCH_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64"}


def meta_model(config: EncoderConfig) -> Classifier:
    """``Classifier(config)`` on the meta device: every parameter's shape, no memory."""
    with torch.device("meta"):
        return Classifier(config)


def expected_shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {name: tuple(t.shape) for name, t in model.state_dict().items()}


def safetensors_info(path: Path) -> TensorInfo:
    """Name, shape and dtype of every tensor in a safetensors file, from its header alone.

    Raises:
        CheckpointError: the file is truncated, its header is malformed or claims data it lacks.
    """
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: (tuple(f.get_slice(k).get_shape()), f.get_slice(k).get_dtype()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path} is corrupt or unreadable: {e}") from None


def tensor_info(state: dict[str, torch.Tensor]) -> TensorInfo:
    """The same description of tensors already in memory (a ``pytorch_model.bin``)."""
    return {
        k: (tuple(v.shape), _TORCH_DTYPES.get(v.dtype, str(v.dtype).removeprefix("torch."))) for k, v in state.items()
    }


def check_tensors(
    found: TensorInfo,
    expected: dict[str, tuple[int, ...]],
    where: Path | str,
    optional: tuple[str, ...] = (),
    strict: bool = True,
) -> None:
    """Refuse a weights file that does not hold exactly the model its config describes.

    Args:
        found: the file's tensors, under the model's names.
        expected: the model's tensors (``expected_shapes``).
        where: the file, for the message.
        optional: tensors the file may lack (a classification head that is initialised fresh).
        strict: refuse tensors the model has no place for (False: they are ignored).

    Raises:
        CheckpointError: naming the first tensor that is missing, extra, of another shape or not
            floating point.
    """
    for name, (shape, dtype) in found.items():
        if name not in expected:
            if strict:
                raise CheckpointError(f"{where} holds a tensor {name!r} that its config.json has no place for")
            continue
        if shape != expected[name]:
            raise CheckpointError(
                f"{where}: tensor {name} has shape {shape}, but config.json describes {expected[name]}; "
                f"the config does not belong to these weights"
            )
        if dtype not in FLOAT_DTYPES:
            raise CheckpointError(
                f"{where}: tensor {name} is stored as {dtype}; "
                f"weights must be floating point ({', '.join(FLOAT_DTYPES)})"
            )
    missing = [k for k in expected if k not in found and k not in optional]
    if missing:
        raise CheckpointError(
            f"{where} lacks {len(missing)} tensor(s) that its config.json describes, first {missing[0]!r}"
        )


def load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a (checked) safetensors file, in fp32."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path} is corrupt or unreadable: {e}") from None
    return {k: v if v.dtype == torch.float32 else v.to(torch.float32) for k, v in state.items()}
