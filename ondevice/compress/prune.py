"""Structured pruning that removes parts for real: attention heads, FFN neurons and whole sub-layers.

Heads go by slicing the query/key/value output rows and the output projection's input columns;
neurons by slicing the FFN's up (and gate) rows and down columns; a removed sub-layer leaves its residual path.
Low-rank factorized projections are sliced on their outer factor, so pruning and factorization
compose in either order. The per-layer shapes go into ``model.config``, so the checkpoint rebuilds.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ondevice.compress import technique
from ondevice.compress.significance import METHODS, Calibration, significance
from ondevice.errors import ConfigError
from ondevice.model.encoder import LowRankLinear


@dataclass
class PruneConfig:
    heads: float = 0.0  # share of all attention heads removed, least significant first
    neurons: float = 0.0  # share of all FFN neurons removed, least significant first
    sublayers: int = 0  # whole attention or FFN sub-layers removed, least significant first
    method: str = "taylor"  # significance estimator: taylor or ablation
    group_size: int = 64  # neurons per group for ablation scores
    multiple_of: int = 16  # kept FFN widths are multiples of this (vector kernels)
    calibration_size: int = 512  # training examples the significance is measured on

    def __post_init__(self) -> None:
        if not 0 <= self.heads < 1 or not 0 <= self.neurons < 1:
            raise ConfigError("prune: heads and neurons are shares in [0, 1)")
        if self.sublayers < 0:
            raise ConfigError("prune: sublayers must be >= 0")
        if self.method not in METHODS:
            raise ConfigError(f"prune: method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.group_size < 1 or self.multiple_of < 1 or self.calibration_size < 1:
            raise ConfigError("prune: group_size, multiple_of and calibration_size must be positive")


def _rows(m: nn.Module, keep: torch.Tensor) -> None:
    """Keep output features ``keep`` of a dense or low-rank linear."""
    target = m.expand if isinstance(m, LowRankLinear) else m
    target.weight = nn.Parameter(target.weight.data[keep].clone())
    if target.bias is not None:
        target.bias = nn.Parameter(target.bias.data[keep].clone())
    target.out_features = len(keep)
    if isinstance(m, LowRankLinear):
        m.out_features = len(keep)


def _cols(m: nn.Module, keep: torch.Tensor) -> None:
    """Keep input features ``keep`` of a dense or low-rank linear."""
    target = m.reduce if isinstance(m, LowRankLinear) else m
    target.weight = nn.Parameter(target.weight.data[:, keep].clone())
    target.in_features = len(keep)
    if isinstance(m, LowRankLinear):
        m.in_features = len(keep)


@torch.no_grad()
def prune_heads_(model, layer: int, keep: list[int]) -> None:
    """Keep only heads ``keep`` of block ``layer``; no heads left removes the attention sub-layer."""
    block = model.blocks[layer]
    attn = block.attention
    if attn is None:
        raise ConfigError(f"layer {layer} has no attention to prune")
    if not keep:
        block.attention = block.attention_norm = None
        model.config.layers[layer].num_heads = 0
        return
    D = attn.head_dim
    idx = torch.cat([torch.arange(h * D, (h + 1) * D) for h in sorted(keep)])
    for name in ("query", "key", "value"):
        _rows(getattr(attn, name), idx)
    _cols(attn.output, idx)
    proj = attn.linformer
    if proj is not None and proj.key.dim() == 3:  # Linformer matrices per head
        heads = torch.tensor(sorted(keep))
        proj.key = torch.nn.Parameter(proj.key.data[heads].clone())
        if proj.value is not None:
            proj.value = torch.nn.Parameter(proj.value.data[heads].clone())
    attn.num_heads = len(keep)
    model.config.layers[layer].num_heads = len(keep)


@torch.no_grad()
def prune_neurons_(model, layer: int, keep: list[int]) -> None:
    """Keep only FFN neurons ``keep`` of block ``layer``; none left removes the FFN sub-layer."""
    block = model.blocks[layer]
    if block.ffn is None:
        raise ConfigError(f"layer {layer} has no FFN to prune")
    if not keep:
        block.ffn = block.ffn_norm = None
        model.config.layers[layer].intermediate_size = 0
        return
    idx = torch.tensor(sorted(keep))
    _rows(block.ffn.up, idx)
    if block.ffn.gate is not None:
        _rows(block.ffn.gate, idx)
    _cols(block.ffn.down, idx)
    model.config.layers[layer].intermediate_size = len(keep)


def remove_sublayer_(model, layer: int, which: str) -> None:
    if which == "attention":
        prune_heads_(model, layer, [])
    elif which == "ffn":
        prune_neurons_(model, layer, [])
    else:
        raise ConfigError(f"unknown sub-layer {which!r}; use attention or ffn")


def _normalized(per_layer: dict[int, torch.Tensor]) -> dict[int, torch.Tensor]:
    # Scores differ in scale between layers; each layer's are divided by their norm (Michel et al., 2019).
    return {i: t / t.norm().clamp(min=1e-12) for i, t in per_layer.items()}


@technique(PruneConfig, "prune")
def apply_prune(model, cfg: PruneConfig, calibration: Calibration | None = None, **_) -> dict:
    if calibration is None:
        raise ConfigError("prune needs calibration data (--data)")
    scores = significance(model, calibration, cfg.method, cfg.group_size)
    report = {"method": cfg.method, "removed_sublayers": [], "heads": {}, "ffn": {}}

    subs = sorted(
        (float(t[k]), i, name)
        for i, t in scores["sublayers"].items()
        for k, name in enumerate(("attention", "ffn"))
        if getattr(model.blocks[i], name) is not None
    )
    if cfg.sublayers > len(subs):
        raise ConfigError(f"prune: sublayers = {cfg.sublayers}, but the model has {len(subs)} sub-layers left")
    for _, i, name in subs[: cfg.sublayers]:
        remove_sublayer_(model, i, name)
        report["removed_sublayers"].append({"layer": i, "sublayer": name})

    heads = {i: t for i, t in _normalized(scores["heads"]).items() if model.blocks[i].attention is not None}
    n_remove = int(round(cfg.heads * sum(len(t) for t in heads.values())))
    if n_remove:
        ranked = sorted((float(s), i, h) for i, t in heads.items() for h, s in enumerate(t))
        drop: dict[int, set[int]] = {}
        for _, i, h in ranked[:n_remove]:
            drop.setdefault(i, set()).add(h)
        for i, t in heads.items():
            keep = [h for h in range(len(t)) if h not in drop.get(i, set())]
            if len(keep) < len(t):
                prune_heads_(model, i, keep)
                report["heads"][i] = {"kept": len(keep), "of": len(t)}

    neurons = {i: t for i, t in _normalized(scores["neurons"]).items() if model.blocks[i].ffn is not None}
    total = sum(len(t) for t in neurons.values())
    n_remove = int(round(cfg.neurons * total))
    if n_remove:
        threshold = torch.sort(torch.cat(list(neurons.values()))).values[n_remove - 1]
        for i, t in neurons.items():
            k = int((t > threshold).sum())
            k = min(len(t), max(cfg.multiple_of, int(round(k / cfg.multiple_of)) * cfg.multiple_of))
            if k < len(t):
                keep = torch.topk(t, k).indices.tolist()
                prune_neurons_(model, i, keep)
                report["ffn"][i] = {"kept": k, "of": len(t)}
    return report
