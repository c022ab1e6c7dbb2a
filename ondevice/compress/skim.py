"""Token skimming: later layers compute only the tokens that matter, with shapes fixed for export.

Transkimmer puts a small skim predictor before each layer and trains it end to end: every token's
keep/skip decision is drawn by Gumbel-softmax (straight-through), a skimmed token keeps its hidden
state and goes straight to the output, and a skim loss (the share of tokens kept) is added to the task
loss. Its decisions depend on the input, so the number of tokens is data-dependent; a `.pte` or
`.tflite` needs static shapes. Here the exported model keeps a per-layer *budget*: the top
ceil(keep · L) tokens by predictor score (``Classifier._skim_topk``), [CLS] always among them.

Two predictors:
- ``learned``: Transkimmer's MLP per layer, trained here with Gumbel-softmax decisions and the skim
  loss, distilling from the model as it came in;
- ``attention``: training-free, in the length-adaptive transformer's spirit: keep the tokens that
  received the most attention in the layer before.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from ondevice.compress import technique
from ondevice.errors import ConfigError
from ondevice.model.config import SKIM_PREDICTORS
from ondevice.model.encoder import SkimPredictor
from ondevice.train import DistillConfig, distill, training_report


@dataclass
class SkimConfig(DistillConfig):
    """Budgets as ``keep`` (a share of the input's tokens) or ``tokens`` (a count at ``seq_len``).

    A single value applies to ``layers`` (default: every layer); a list gives one value per layer,
    0 for a layer that computes every token. ``train`` (default: for the learned predictor only) runs
    the Gumbel-softmax training with ``skim_weight`` times the share of tokens kept added to the loss.
    """

    keep: float | list[float] | None = None
    tokens: int | list[int] | None = None
    seq_len: int = 128  # the length ``tokens`` counts against
    layers: list[int] | None = None
    predictor: str = "learned"
    train: bool | None = None
    skim_weight: float = 0.2

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.keep is None) == (self.tokens is None):
            raise ConfigError("skim: give exactly one of keep (a share of the tokens) or tokens (a count)")
        if self.predictor not in SKIM_PREDICTORS:
            raise ConfigError(f"skim: predictor must be one of {', '.join(SKIM_PREDICTORS)}, got {self.predictor!r}")
        if self.seq_len < 1:
            raise ConfigError(f"skim: seq_len must be positive, got {self.seq_len}")
        if self.tokens is not None:
            for t in self.tokens if isinstance(self.tokens, list) else [self.tokens]:
                zero_ok = isinstance(self.tokens, list) and t == 0
                if not isinstance(t, int) or not (zero_ok or 1 <= t <= self.seq_len):
                    raise ConfigError(
                        f"skim: a token budget must be between 1 and the sequence length {self.seq_len}, got {t!r}"
                    )
        else:
            for f in self.keep if isinstance(self.keep, list) else [self.keep]:
                zero_ok = isinstance(self.keep, list) and f == 0
                if not isinstance(f, (int, float)) or not (zero_ok or 0 < f <= 1):
                    raise ConfigError(f"skim: keep is a share of the tokens in (0, 1], got {f!r}")
        if self.skim_weight < 0:
            raise ConfigError("skim: skim_weight must be >= 0")
        if self.train is None:
            self.train = self.predictor == "learned"

    def shares(self, num_layers: int) -> list[float]:
        """The share of tokens each layer keeps (0: all, no skimming)."""
        value = self.keep if self.keep is not None else self.tokens
        scale = 1.0 if self.keep is not None else 1.0 / self.seq_len
        if isinstance(value, list):
            if len(value) != num_layers:
                raise ConfigError(f"skim: {len(value)} budgets given for {num_layers} layers")
            return [v * scale for v in value]
        layers = range(num_layers) if self.layers is None else self.layers
        bad = [i for i in layers if not 0 <= i < num_layers]
        if bad:
            raise ConfigError(f"skim: no layers {bad}; the model has {num_layers}")
        return [value * scale if i in layers else 0.0 for i in range(num_layers)]


@technique(SkimConfig, "skim")
def apply_skim(
    model,
    cfg: SkimConfig,
    student=None,
    teacher=None,
    train=None,
    dev=None,
    teacher_logits=None,
    select=None,
    **_,
) -> dict:
    """Give the model skim budgets (and learned predictors) in place; trains them when ``cfg.train``, by
    distillation (``ondevice.compress.distill.apply_distill``'s arguments, ``dev`` only reported)."""
    config = model.config
    if any(layer.skim_keep for layer in config.layers):
        raise ConfigError("skim: the model already skims tokens")
    shares = cfg.shares(len(config.layers))  # blocks; _check_skim refuses ALBERT's shared ones
    trial = copy.deepcopy(config)
    trial.skim_predictor = cfg.predictor
    for layer, share in zip(trial.layers, shares, strict=True):
        layer.skim_keep = float(share)
    trial._check_skim()  # a bad schedule fails here, before the model changes
    if not any(shares):
        raise ConfigError("skim: every budget is 0, so no layer would skim")
    config.skim_predictor = cfg.predictor
    for layer, share in zip(config.layers, shares, strict=True):
        layer.skim_keep = float(share)
    added = 0
    if cfg.predictor == "learned":
        for block, share in zip(model.blocks, shares, strict=True):
            if share:
                block.skim = SkimPredictor(config.hidden_size)
                added += sum(p.numel() for p in block.skim.parameters())
    report = {"keep": [round(s, 4) for s in shares], "predictor": cfg.predictor, "parameters_added": added}
    if not cfg.train:
        return report
    if cfg.predictor != "learned":
        raise ConfigError("skim: only the learned predictor trains; use a distill step after attention skimming")
    if student is None or teacher is None or train is None:
        raise ConfigError("skim: training the predictors needs the teacher and training data")
    kept: list[list[float]] = []

    def skim_loss(m) -> torch.Tensor:
        kept.append([float(k) for k in m.skim_kept])
        return cfg.skim_weight * torch.stack(m.skim_kept).mean()

    model.skim_mode = "gumbel"
    try:
        result = distill(
            student, teacher, train, dev, cfg, extra_loss=skim_loss, teacher_logits=teacher_logits, select=select
        )
    finally:
        model.skim_mode = "topk"
    tail = kept[-100:]
    # what the Gumbel decisions kept of the real tokens, per skimming layer, over the last 100 steps
    report["adaptive_kept"] = [round(sum(col) / len(tail), 4) for col in zip(*tail, strict=True)] if tail else []
    return {**report, **training_report(result)}
