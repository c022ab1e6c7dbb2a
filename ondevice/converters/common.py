"""What the export halves share: export options, example inputs, which linears keep dynamic int8, mixed precision."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ondevice.converters.formats import input_names
from ondevice.errors import ConfigError, ExportError

QUANTIZATIONS = ("fp32", "int8-dynamic", "int8-static")


@dataclass
class ExportOptions:
    quantize: str = "fp32"
    # Fixed sequence lengths the artifact carries; a runner picks the smallest that fits a sentence.
    seq_lens: tuple[int, ...] = (128,)
    input_dtype: str = "int32"  # what the app feeds: Android runtimes take int32 tensors
    # Token-id rows (N, seq_len) from real sentences: calibration for static quantization.
    calibration_ids: np.ndarray | None = None
    calibration_mask: np.ndarray | None = None
    # Sentence pairs: the artifact takes token_type_ids as a third input (and calibrates on these).
    token_types: bool = False
    calibration_types: np.ndarray | None = None
    # The traced example's first ids: "[CLS] this is [SEP]" in BERT's vocabulary. An export passes the
    # model's own tokenizer's ids, which a pruned vocabulary (compress/vocab.py) needs: it may lack 2023.
    example_ids: tuple[int, ...] = (101, 2023, 2003, 102)

    def __post_init__(self) -> None:
        if self.quantize not in QUANTIZATIONS:
            raise ConfigError(f"unknown quantization {self.quantize!r}; use one of {', '.join(QUANTIZATIONS)}")
        if self.input_dtype not in ("int32", "int64"):
            raise ConfigError("input dtype must be int32 or int64")
        self.seq_lens = tuple(sorted(set(int(n) for n in self.seq_lens)))
        if not self.seq_lens or self.seq_lens[0] < 2:
            raise ConfigError("sequence lengths must be at least 2")

    @property
    def seq_len(self) -> int:
        """The longest length: what the calibration rows and the tokenizer settings use."""
        return self.seq_lens[-1]

    @property
    def input_names(self) -> tuple[str, ...]:
        return input_names(self.token_types)

    @property
    def torch_dtype(self) -> torch.dtype:
        return torch.int32 if self.input_dtype == "int32" else torch.int64

    def calibration_batches(self, length: int | None = None):
        """The inputs (``input_names``) as (1, length) tensors, one tuple per calibration sentence; static
        quantization needs them.

        A shorter length is calibrated on the sentences that fit it (their padding cut off).
        """
        if self.calibration_ids is None:
            raise ConfigError("static quantization needs calibration sentences (--data)")
        length = length or self.seq_len
        fits = [i for i in range(len(self.calibration_ids)) if self.calibration_mask[i].sum() <= length]
        arrays = [self.calibration_ids, self.calibration_mask]
        if self.token_types:
            arrays.append(self.calibration_types)
        for i in fits or range(len(self.calibration_ids)):
            yield tuple(torch.tensor(a[i : i + 1, :length], dtype=self.torch_dtype) for a in arrays)

    def named(self, batch: tuple) -> dict:
        """A batch of inputs (tensors or arrays) by their names, as the converters' calibrators take them."""
        return dict(zip(self.input_names, batch, strict=True))


def export_failure(fmt: str, e: Exception) -> ExportError:
    """One line naming what an exporter raised: its type and its message's first line (an exporter's
    bare ``assert`` has none)."""
    lines = str(e).strip().splitlines()
    return ExportError(f"{fmt} export failed: {type(e).__name__}" + (f": {lines[0]}" if lines else ""))


def example_inputs(opts: ExportOptions, length: int | None = None) -> tuple[torch.Tensor, ...]:
    """A batch-1 input of a fixed shape: [CLS] a few tokens [SEP] then padding (with token types: a
    second segment of two tokens)."""
    length = length or opts.seq_len
    ids = torch.zeros((1, length), dtype=opts.torch_dtype)
    mask = torch.zeros((1, length), dtype=opts.torch_dtype)
    example = torch.tensor(opts.example_ids[:length])
    ids[0, : len(example)] = example
    mask[0, : len(example)] = 1
    if not opts.token_types:
        return ids, mask
    types = torch.zeros((1, length), dtype=opts.torch_dtype)
    types[0, 2:4] = 1
    return ids, mask, types


# int8-static in TFLite and ONNX: the linears that keep dynamic (per-token or per-batch) int8
# activations, as (module, projection) names. The FFN down-projections take GELU outputs with
# heavy-tailed ranges. The up-projections, and the query, key and value projections, take LayerNorm
# outputs in which a few channels run far larger than the rest (MiniLM on SST-2 train: one channel of
# the up-projections' inputs reaches 14-30, of the others' 6-11, the median channel 2), and one
# calibrated range per tensor leaves the other channels little resolution: with either group static
# as well, the default model's .tflite kept 1.3 points fewer of its labels on SST-2 dev. ExecuTorch's
# calibration clips such ranges well enough to keep query, key and value static (its _static).
STATIC_KEEPS_DYNAMIC = (
    ("ffn", "down"),
    ("ffn", "up"),
    ("attention", "query"),
    ("attention", "key"),
    ("attention", "value"),
)


def keeps_dynamic(module_name: str, sep: str = ".", pairs: tuple[tuple[str, str], ...] = STATIC_KEEPS_DYNAMIC) -> bool:
    """Whether int8-static leaves this linear (or a factor of it: ``...ffn.down.reduce``) dynamic:
    whether two adjacent steps of its name are one of ``pairs``."""
    parts = module_name.split(sep)
    return any(pair in pairs for pair in zip(parts, parts[1:], strict=False))


def _low_bits(model: torch.nn.Module, kind: type) -> dict[str, tuple[int, int]]:
    """{module name: (bits, group size or 0 for one scale per row)} for the ``kind`` modules that the
    model's config puts below 8 bits. Linears have groups of ``weight_group_size`` input features (one
    scale per row when that does not divide the row); embedding tables have one scale per row."""
    config = getattr(model, "config", None)
    bits = getattr(config, "weight_bits", None) or {}
    modules = dict(model.named_modules())
    out = {}
    for name, b in bits.items():
        m = modules.get(name)
        if not isinstance(m, (torch.nn.Linear, torch.nn.Embedding)):
            raise ExportError(
                f"mixed precision names {name!r}, which is not a linear layer or embedding table of this model"
            )
        if b >= 8 or not isinstance(m, kind):
            continue
        group = config.weight_group_size
        # Tables keep one scale per row: a row is one token's vector, and finer groups bought no accuracy
        # (4-bit MiniLM tables with groups of 32 or whole rows score the same on SST-2).
        if isinstance(m, torch.nn.Embedding) or m.in_features % group:
            group = 0
        out[name] = (b, group)
    return out


def low_precision_linears(model: torch.nn.Module) -> dict[str, tuple[int, int]]:
    """Mixed precision: {linear's module name: (bits, group size or 0)} for the linears below 8 bits."""
    return _low_bits(model, torch.nn.Linear)


def low_precision_tables(model: torch.nn.Module) -> dict[str, tuple[int, int]]:
    """Mixed precision: {embedding table's module name: (bits, 0)} for tables below 8 bits (one scale per row)."""
    return _low_bits(model, torch.nn.Embedding)
