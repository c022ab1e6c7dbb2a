"""Linformer attention: keys and values projected along the sequence axis from n to k positions.

Attention then costs O(L·k) instead of O(L²). The projections start as average pooling over k
contiguous windows of the n positions (a sensible, training-free starting point) and are learned by
the distillation step that follows. See ``ondevice.model.encoder.SequenceProjection`` for how padding
is kept out of the projection.
"""

from __future__ import annotations

from dataclasses import dataclass

from ondevice.compress import technique
from ondevice.errors import ConfigError
from ondevice.model.config import LINFORMER_SHARING
from ondevice.model.encoder import SequenceProjection


@dataclass
class LinformerConfig:
    """``k`` for every targeted layer, or ``ks`` with one k per block (0 leaves a block's attention full)."""

    k: int | None = None
    ks: list[int] | None = None
    n: int = 128  # the longest input the model will take; exported lengths must not exceed it
    sharing: str = "headwise"  # none (per head), headwise (per layer), kv (E = F per layer), layerwise
    layers: list[int] | None = None  # block indices for ``k``; None: all

    def __post_init__(self) -> None:
        if (self.k is None) == (self.ks is None):
            raise ConfigError("linformer: give exactly one of k (every layer) or ks (one per layer)")
        if self.n < 1:
            raise ConfigError(f"linformer: n must be at least 1, got {self.n}")
        for k in [self.k] if self.k is not None else self.ks:
            if not isinstance(k, int) or k < 0 or (self.k is not None and k < 1):
                raise ConfigError(f"linformer: k must be a positive integer, got {k!r}")
            if k > self.n:
                raise ConfigError(f"linformer: k ({k}) is larger than the sequence length n ({self.n})")
        if self.sharing not in LINFORMER_SHARING:
            raise ConfigError(f"linformer: sharing {self.sharing!r} is not one of {', '.join(LINFORMER_SHARING)}")


@technique(LinformerConfig, "linformer")
def apply_linformer(model, cfg: LinformerConfig, **_) -> dict:
    """Give the targeted layers Linformer attention in place; records k, n and the sharing in ``model.config``."""
    config = model.config
    config.check_linformer_applies()
    if any(layer.linformer_k for layer in config.layers):
        raise ConfigError("linformer: the model already has Linformer attention")
    if cfg.n > config.positions:
        raise ConfigError(f"linformer: n ({cfg.n}) is longer than the position table ({config.positions})")
    n = len(config.layers)  # blocks: fewer than the layers when they share weights (ALBERT)
    if cfg.ks is not None:
        if len(cfg.ks) != n:
            raise ConfigError(f"linformer: ks lists {len(cfg.ks)} values for {n} layers")
        ks = dict(enumerate(cfg.ks))
    else:
        layers = range(n) if cfg.layers is None else cfg.layers
        bad = [i for i in layers if not 0 <= i < n]
        if bad:
            raise ConfigError(f"linformer: no layers {bad}; the model has {n}")
        ks = {i: cfg.k for i in layers}
    ks = {i: k for i, k in ks.items() if k and config.layers[i].num_heads}  # a removed attention has nothing to do
    if cfg.sharing == "layerwise" and len(set(ks.values())) > 1:
        raise ConfigError("linformer: layerwise sharing needs the same k in every layer")
    config.linformer_n, config.linformer_sharing = cfg.n, cfg.sharing
    for i, k in ks.items():
        config.layers[i].linformer_k = k
    config._check_linformer()
    added = 0
    if cfg.sharing == "layerwise" and ks:
        model.linformer = SequenceProjection(next(iter(ks.values())), cfg.n, shared_kv=True)
        added = model.linformer.key.numel()
    else:
        for i, k in ks.items():
            attn = model.blocks[i].attention
            heads = attn.num_heads if cfg.sharing == "none" else 0
            attn.linformer = SequenceProjection(k, cfg.n, heads, cfg.sharing == "kv")
            added += sum(p.numel() for p in attn.linformer.parameters())
    return {"layers": {str(i): k for i, k in ks.items()}, "n": cfg.n, "sharing": cfg.sharing, "parameters_added": added}
