"""Significance analysis (approximate computing): which heads, FFN neurons and sub-layers matter least.

Every part gets a gate (1.0) that multiplies its output. Two estimators on a calibration set:
- **taylor**: first-order Taylor, E_batch |∂L/∂gate| = |Σ gradient × activation| of the task loss;
- **ablation**: the rise of the task loss when the gate is set to 0, one part at a time.
Neurons are scored one by one by Taylor and in groups (``group_size`` neurons) by ablation.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from ondevice.errors import ConfigError
from ondevice.model.tokenizer import Rows
from ondevice.progress import progress
from ondevice.train import task_loss

METHODS = ("taylor", "ablation")


@dataclass
class Calibration:
    """Token-id batches with their labels: what significance and pruning score parts on."""

    batches: list[tuple[tuple[torch.Tensor, ...], torch.Tensor]]  # (model inputs, targets)

    @classmethod
    def from_data(cls, tokenizer, texts: list[str], targets, max_length: int = 128, batch_size: int = 32):
        """``targets``: class indices, or a multi-label model's multi-hot rows (``Dataset.multi_hot``), which are
        scored by binary cross-entropy."""
        if not texts:
            raise ConfigError("significance needs at least one labelled example")
        rows = Rows(tokenizer, texts, max_length)
        order = sorted(range(len(rows)), key=lambda i: rows.lengths[i])
        batches = []
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            batches.append((rows.batch(idx), torch.as_tensor(np.asarray([targets[i] for i in idx]))))
        return cls(batches)

    @property
    def size(self) -> int:
        return sum(len(y) for _, y in self.batches)


@contextmanager
def gates(model, requires_grad: bool = False):
    """Attach all-ones gates to every head, FFN neuron and sub-layer; removed on exit."""
    attached = {"heads": {}, "neurons": {}, "sublayers": {}}
    try:
        for i, block in enumerate(model.blocks):
            if block.attention is not None:
                g = torch.ones(block.attention.num_heads, requires_grad=requires_grad)
                block.attention.head_gate = attached["heads"][i] = g
            if block.ffn is not None:
                g = torch.ones(block.ffn.up.out_features, requires_grad=requires_grad)
                block.ffn.neuron_gate = attached["neurons"][i] = g
            g = torch.ones(2, requires_grad=requires_grad)
            block.sublayer_gate = attached["sublayers"][i] = g
        yield attached
    finally:
        for block in model.blocks:
            if block.attention is not None:
                block.attention.head_gate = None
            if block.ffn is not None:
                block.ffn.neuron_gate = None
            block.sublayer_gate = None


def _loss(model, calib: Calibration) -> float:
    total, n = 0.0, 0
    with torch.no_grad():
        for inputs, y in calib.batches:
            total += task_loss(model(*inputs), y, reduction="sum").item()
            n += len(y)
    return total / n


def taylor_scores(model, calib: Calibration) -> dict[str, dict[int, torch.Tensor]]:
    """E_batch |∂L/∂gate| for every gate, per batch of the calibration set."""
    model.eval()
    with gates(model, requires_grad=True) as g:
        acc = {kind: {i: torch.zeros_like(t) for i, t in per.items()} for kind, per in g.items()}
        for inputs, y in progress(calib.batches, desc="taylor", unit="batch"):
            loss = task_loss(model(*inputs), y)
            params = [t for per in g.values() for t in per.values()]
            # A removed sub-layer's gate is never used: its gradient is None and its score stays 0.
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            k = 0
            for kind, per in g.items():
                for i in per:
                    if grads[k] is not None:
                        acc[kind][i] += grads[k].abs() * len(y)
                    k += 1
    return {kind: {i: t / calib.size for i, t in per.items()} for kind, per in acc.items()}


def ablation_scores(model, calib: Calibration, group_size: int = 64) -> dict[str, dict[int, torch.Tensor]]:
    """Rise of the calibration loss when one head, one group of neurons or one sub-layer is switched off.

    Neuron groups are contiguous blocks of ``group_size`` neurons; each neuron gets its group's score.
    """
    model.eval()
    with gates(model) as g:
        base = _loss(model, calib)
        jobs = []
        for kind, per in g.items():
            for i, t in per.items():
                step = group_size if kind == "neurons" else 1
                jobs.extend((kind, i, s, min(s + step, len(t))) for s in range(0, len(t), step))
        out = {kind: {i: torch.zeros_like(t) for i, t in per.items()} for kind, per in g.items()}
        for kind, i, s, e in progress(jobs, desc="ablation", unit="part"):
            gate = g[kind][i]
            gate[s:e] = 0.0
            out[kind][i][s:e] = _loss(model, calib) - base
            gate[s:e] = 1.0
    return out


def significance(model, calib: Calibration, method: str = "taylor", group_size: int = 64):
    """Scores for every head, neuron and sub-layer: {"heads"|"neurons"|"sublayers": {layer: tensor}}."""
    if method not in METHODS:
        raise ConfigError(f"unknown significance method {method!r}; use one of {', '.join(METHODS)}")
    if method == "taylor":
        return taylor_scores(model, calib)
    return ablation_scores(model, calib, group_size)


def ranking(model, scores: dict, method: str) -> dict:
    """JSON-able ranking, least significant first, for `ondevice significance`. Removed parts are left out."""
    heads = sorted(
        ({"layer": i, "head": h, "score": float(s)} for i, t in scores["heads"].items() for h, s in enumerate(t)),
        key=lambda r: r["score"],
    )
    sublayers = sorted(
        (
            {"layer": i, "sublayer": name, "score": float(t[k])}
            for i, t in scores["sublayers"].items()
            for k, name in enumerate(("attention", "ffn"))
            if getattr(model.blocks[i], name) is not None
        ),
        key=lambda r: r["score"],
    )
    neurons = {
        str(i): {
            "mean": float(t.mean()),
            "quantiles": [float(q) for q in torch.quantile(t.float(), torch.tensor([0.1, 0.5, 0.9]))],
        }
        for i, t in scores["neurons"].items()
    }
    return {"method": method, "heads": heads, "sublayers": sublayers, "neurons": neurons}
