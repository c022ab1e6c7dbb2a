"""What the format modules share: export options, example inputs, atomic writes, file checks."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ondevice.errors import ArtifactError, ConfigError

QUANTIZATIONS = ("fp32", "int8-dynamic", "int8-static")
INPUT_NAMES = ("input_ids", "attention_mask")


@dataclass
class ExportOptions:
    quantize: str = "fp32"
    seq_len: int = 128
    input_dtype: str = "int32"  # what the app feeds: Android runtimes take int32 tensors
    # Token-id rows (N, seq_len) from real sentences: calibration for static quantization.
    calibration_ids: np.ndarray | None = None
    calibration_mask: np.ndarray | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.quantize not in QUANTIZATIONS:
            raise ConfigError(f"unknown quantization {self.quantize!r}; use one of {', '.join(QUANTIZATIONS)}")
        if self.input_dtype not in ("int32", "int64"):
            raise ConfigError("input dtype must be int32 or int64")

    @property
    def torch_dtype(self) -> torch.dtype:
        return torch.int32 if self.input_dtype == "int32" else torch.int64

    def calibration_batches(self, limit: int = 64):
        """(1, L) tensors for calibration; static quantization needs them."""
        if self.calibration_ids is None:
            raise ConfigError("static quantization needs calibration sentences (--data)")
        n = min(limit, len(self.calibration_ids))
        for i in range(n):
            yield (
                torch.tensor(self.calibration_ids[i : i + 1], dtype=self.torch_dtype),
                torch.tensor(self.calibration_mask[i : i + 1], dtype=self.torch_dtype),
            )


def example_inputs(opts: ExportOptions) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch-1 input of the artifact's fixed shape: [CLS] a few tokens [SEP] then padding."""
    ids = torch.zeros((1, opts.seq_len), dtype=opts.torch_dtype)
    mask = torch.zeros((1, opts.seq_len), dtype=opts.torch_dtype)
    ids[0, :4] = torch.tensor([101, 2023, 2003, 102])
    mask[0, :4] = 1
    return ids, mask


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path`` and rename it into place."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make the artifact private
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_flatbuffer(path: Path, identifier: bytes, what: str) -> bytes:
    """Read a flatbuffer file and check its identifier and root offset before any runtime sees it."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: no such file")
    data = path.read_bytes()
    if len(data) < 16 or data[4:8] != identifier:
        raise ArtifactError(f"{path}: not a {what} file (bad header), or truncated")
    root = int.from_bytes(data[:4], "little")
    if root >= len(data):
        raise ArtifactError(f"{path}: truncated {what} file")
    return data


def run_rows(fn, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    """Run a batch-1 artifact over every row of a batch."""
    return np.concatenate([fn(input_ids[i : i + 1], attention_mask[i : i + 1]) for i in range(len(input_ids))])


def check_inputs(input_ids: np.ndarray, attention_mask: np.ndarray, seq_len: int, path: Path) -> None:
    if input_ids.ndim != 2 or input_ids.shape != attention_mask.shape:
        raise ArtifactError(f"{path}: inputs must be two (B, L) arrays of the same shape")
    if input_ids.shape[1] != seq_len:
        raise ArtifactError(f"{path}: takes sequences of {seq_len} tokens, got {input_ids.shape[1]}")
