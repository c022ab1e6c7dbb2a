"""Accuracy, per-class precision/recall/F1 and the confusion matrix of a classifier on labelled text."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ondevice.converters.inputs import pick_length
from ondevice.data import Dataset
from ondevice.model import Checkpoint
from ondevice.model.tokenizer import Rows, Text, length_sorted_batches
from ondevice.progress import progress


@torch.no_grad()
def predict_logits(
    ckpt: Checkpoint,
    texts: Sequence[Text],
    batch_size: int = 64,
    max_length: int | None = None,
    desc: str = "",
    pad_to: Sequence[int] | None = None,
) -> np.ndarray:
    """Logits (N, num_labels) in the input order, padding each batch to its longest sentence.

    With ``pad_to`` every sentence is padded to the shortest of those lengths that holds it, as an
    exported artifact with several sequence lengths runs it (a model that skims tokens computes a
    share of the padded length, so its outputs depend on the padding).
    """
    model = ckpt.model.eval()
    rows = Rows(ckpt.tokenizer, texts, max_length if pad_to is None else max(pad_to))
    out = np.zeros((len(texts), ckpt.config.num_labels), dtype=np.float32)
    lengths = rows.lengths
    if pad_to is not None:
        lengths = [pick_length(list(pad_to), n) for n in lengths]
    batches = length_sorted_batches(lengths, batch_size)
    if pad_to is not None:  # one padded length per batch
        batches = [b[np.asarray(lengths)[b] == n] for b in batches for n in sorted(set(np.asarray(lengths)[b]))]
    for idx in progress(batches, desc=desc or "predict", unit="batch"):
        width = lengths[idx[0]] if pad_to else 0
        out[idx] = model(*rows.batch(idx, width)).float().numpy()
    return out


def classification_report(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]) -> dict:
    """Accuracy, per-class precision/recall/F1/support and the confusion matrix (rows: true label)."""
    k = len(labels)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    per_class = {}
    for i, name in enumerate(labels):
        tp = int(cm[i, i])
        predicted, actual = int(cm[:, i].sum()), int(cm[i, :].sum())
        p = tp / predicted if predicted else 0.0
        r = tp / actual if actual else 0.0
        per_class[name] = {
            "precision": p,
            "recall": r,
            "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "support": actual,
        }
    total = int(cm.sum())
    return {
        "accuracy": float(np.trace(cm) / total) if total else 0.0,
        "n": total,
        "labels": list(labels),
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
    }


def evaluate(ckpt: Checkpoint, data: Dataset, batch_size: int = 64, max_length: int | None = None) -> dict:
    """Accuracy, per-class figures and the confusion matrix; ``max_length`` is checked against the model first."""
    if max_length is not None:
        ckpt.config.check_length(max_length)
    logits = predict_logits(ckpt, data.texts, batch_size, max_length, desc="eval")
    return classification_report(data.targets, logits.argmax(-1).tolist(), ckpt.labels)
