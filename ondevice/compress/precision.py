"""Mixed precision from significance: 4-bit weights for the linears that matter least, int8 for the rest.

The significance of a linear to precision is measured the way approximate computing measures a
part's significance, by ablation: the rise of the task loss on calibration data when that linear
alone has its weights rounded to 4 bits (symmetric, per group of ``group_size`` input features, as
the runtimes' 4-bit kernels store them). The least significant linears per byte saved go to 4 bits
until the encoder's linear weights fit ``size_budget`` (a share of their int8 size). The choice is
recorded in ``model.config.weight_bits``; the model itself stays float, and the ExecuTorch and
TFLite converters quantize those linears to 4 bits when exporting with ``int8-dynamic``.
``embedding_bits = 4`` also records the word-embedding table (half of MiniLM's weights) at 4 bits,
one scale per row, whatever the budget.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from ondevice.compress import technique
from ondevice.compress.significance import _loss
from ondevice.errors import ConfigError
from ondevice.model.config import WEIGHT_BITS
from ondevice.progress import progress


@dataclass
class MixedPrecisionConfig:
    size_budget: float = 0.75  # the encoder linears' weight bytes kept, as a share of all of them at int8
    bits: int = 4  # the low precision
    group_size: int = 32  # input features per 4-bit scale
    calibration_size: int = 512
    embedding_bits: int = 8  # the word-embedding table's width: 8, or 4 (half of MiniLM's weights)

    def __post_init__(self) -> None:
        low = sorted(b for b in WEIGHT_BITS if b < 8)
        if self.bits not in low:
            raise ConfigError(
                f"mixed_precision: bits must be one of {', '.join(map(str, low))} (the weight widths the "
                f"XNNPACK and LiteRT kernels run below 8), got {self.bits!r}"
            )
        if self.embedding_bits not in WEIGHT_BITS:
            raise ConfigError(
                f"mixed_precision: embedding_bits must be one of {', '.join(map(str, WEIGHT_BITS))}, "
                f"got {self.embedding_bits!r}"
            )
        if not 0 < self.size_budget <= 1:
            raise ConfigError(f"mixed_precision: size_budget is a share in (0, 1], got {self.size_budget}")
        if self.group_size < 1 or self.calibration_size < 1:
            raise ConfigError("mixed_precision: group_size and calibration_size must be positive")


# Weights below 8 bits run with dynamically quantized int8 activations only (the converters refuse the rest).
LOW_BITS_QUANTIZATION = "int8-dynamic"


def stores_low_bits(cfg: MixedPrecisionConfig) -> bool:
    """Whether the step may leave weights below 8 bits: the word table, or linears beyond the size budget.
    Such a model exports with ``LOW_BITS_QUANTIZATION`` only."""
    return cfg.embedding_bits < 8 or cfg.size_budget < 1


def encoder_linears(model) -> dict[str, nn.Linear]:
    """The Linear modules inside the blocks (low-rank factors included), by module name."""
    return {
        name: m
        for name, m in model.named_modules()
        if isinstance(m, nn.Linear) and name.startswith("blocks.") and ".skim." not in name
    }


def word_table(model) -> tuple[str, nn.Embedding]:
    """The word-embedding table and its module name (the (vocab, r) factor when it is factorized)."""
    name, m = "embeddings.word", model.embeddings.word
    if not isinstance(m, nn.Embedding):
        name, m = name + ".table", m.table
    return name, m


def fake_quantize(weight: torch.Tensor, bits: int, group_size: int) -> torch.Tensor:
    """``weight`` rounded to ``bits`` bits, symmetric, one scale per group of input features."""
    out_f, in_f = weight.shape
    group = group_size if in_f % group_size == 0 else in_f
    w = weight.reshape(out_f, in_f // group, group)
    qmax = 2 ** (bits - 1) - 1
    scale = w.abs().amax(dim=-1, keepdim=True).clamp(min=1e-12) / qmax
    return ((w / scale).round().clamp(-qmax - 1, qmax) * scale).reshape(out_f, in_f)


@contextmanager
def _rounded(module: nn.Linear | nn.Embedding, bits: int, group_size: int):
    """``module``'s weight rounded to ``bits`` bits per group of a row's entries, for the ``with`` body."""
    original = module.weight.data
    module.weight.data = fake_quantize(original, bits, group_size)
    try:
        yield
    finally:
        module.weight.data = original


@torch.no_grad()
def precision_significance(model, calib, bits: int, group_size: int) -> dict[str, float]:
    """The rise of the calibration loss when each encoder linear alone has ``bits``-bit weights."""
    base = _loss(model, calib)
    scores = {}
    for name, linear in progress(encoder_linears(model).items(), desc="precision significance", unit="linear"):
        with _rounded(linear, bits, group_size):
            scores[name] = _loss(model, calib) - base
    return scores


@technique(MixedPrecisionConfig, "mixed_precision")
def apply_mixed_precision(model, cfg: MixedPrecisionConfig, calibration=None, **_) -> dict:
    if calibration is None:
        raise ConfigError("mixed_precision needs calibration data")
    linears = encoder_linears(model)
    if not linears:
        raise ConfigError("mixed_precision: the model has no encoder linears")
    # A budget of 1 keeps every linear at 8 bits: nothing to score.
    scores = precision_significance(model, calibration, cfg.bits, cfg.group_size) if cfg.size_budget < 1 else {}
    size = {name: m.weight.numel() for name, m in linears.items()}  # bytes at int8
    total = sum(size.values())
    target = cfg.size_budget * total
    current = float(total)
    low = {}
    # least loss per byte saved first
    for name in sorted(scores, key=lambda n: scores[n] / (size[n] * (8 - cfg.bits) / 8)):
        if current <= target:
            break
        low[name] = cfg.bits
        current -= size[name] * (8 - cfg.bits) / 8
    report = {}
    if cfg.embedding_bits < 8:
        table, module = word_table(model)
        with torch.no_grad():
            base = _loss(model, calibration)
            with _rounded(module, cfg.embedding_bits, module.embedding_dim):  # one scale per row
                report["embedding_loss_rise"] = round(_loss(model, calibration) - base, 5)
        low[table] = cfg.embedding_bits
    model.config.weight_bits = dict(sorted(low.items()))
    model.config.weight_group_size = cfg.group_size
    return {
        "low_precision": sorted(low),
        "linear_bytes_share": round(current / total, 4),
        "loss_rise": {n: round(s, 5) for n, s in sorted(scores.items(), key=lambda kv: kv[1])},
        **report,
    }
