"""Sign-matching attention (approximate computing): each query attends only to the keys whose signs
agree with its own in the most dimensions.

Nagarajan et al. find the keys that matter to a query by comparing sign bits, which custom hardware
does with XNOR and popcount, and compute exact attention over those keys only. Here the selection is
a ±1 matrix product and a top-k, followed by the full score matrix with the other keys masked; it
changes what the model computes (and can be recovered by distillation), not how much: see docs/compression.md
for what it costs and whether it pays on these runtimes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ondevice.compress import technique
from ondevice.errors import ConfigError


@dataclass
class SignMatchConfig:
    k: int = 32  # keys each query attends to
    layers: list[int] | None = None  # block indices; None: all

    def __post_init__(self) -> None:
        if not isinstance(self.k, int) or self.k < 1:
            raise ConfigError(f"sign_match: k must be a positive integer, got {self.k!r}")


@technique(SignMatchConfig, "sign_match")
def apply_sign_match(model, cfg: SignMatchConfig, **_) -> dict:
    config = model.config
    n = len(config.layers)  # blocks: fewer than the layers when they share weights (ALBERT)
    layers = range(n) if cfg.layers is None else cfg.layers
    bad = [i for i in layers if not 0 <= i < n]
    if bad:
        raise ConfigError(f"sign_match: no layers {bad}; the model has {n}")
    if any(config.layers[i].linformer_k for i in layers):
        raise ConfigError("sign_match: Linformer layers have no per-key scores to select from")
    done = []
    for i in layers:
        if model.blocks[i].attention is not None:
            config.layers[i].sign_match_k = cfg.k
            model.blocks[i].attention.sign_match_k = cfg.k
            done.append(i)
    return {"layers": done, "k": cfg.k}
