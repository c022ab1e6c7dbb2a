"""Accuracy, per-class precision/recall/F1 and the confusion matrix of a classifier on labelled text;
for a multi-label classifier micro and macro F1, per-label figures and subset accuracy."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ondevice.converters.inputs import pick_length
from ondevice.data import Dataset
from ondevice.model import Checkpoint
from ondevice.model.tokenizer import Rows, Text, length_sorted_batches
from ondevice.progress import progress
from ondevice.scores import decisions


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


def _f1(tp: float, predicted: float, actual: float) -> tuple[float, float, float]:
    p = tp / predicted if predicted else 0.0
    r = tp / actual if actual else 0.0
    return p, r, 2 * p * r / (p + r) if p + r else 0.0


def micro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """F1 over every (example, label) decision at once: what fine-tuning selects multi-label models by."""
    y_true, y_pred = np.asarray(y_true, bool), np.asarray(y_pred, bool)
    return _f1(float((y_true & y_pred).sum()), float(y_pred.sum()), float(y_true.sum()))[2]


THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.05), 2)


def choose_thresholds(y_true: np.ndarray, probs: np.ndarray) -> list[float]:
    """Each label's decision threshold: the one of ``THRESHOLD_GRID`` with the best F1 for that label on
    held-out data (the one nearest 0.5 among equals), or 0.5 for a label the data never shows.

    Args:
        y_true: (N, labels) 0/1 targets of a split the model was not trained on.
        probs: (N, labels) sigmoid probabilities.
    """
    y_true = np.asarray(y_true, bool)
    out = []
    for k in range(y_true.shape[1]):
        if not y_true[:, k].any():
            out.append(0.5)
            continue
        pred = probs[:, k][None, :] > THRESHOLD_GRID[:, None]  # (grid, N)
        tp = (pred & y_true[:, k]).sum(1)
        f1 = 2 * tp / np.maximum(pred.sum(1) + y_true[:, k].sum(), 1)
        best = np.flatnonzero(f1 == f1.max())
        out.append(float(THRESHOLD_GRID[best[np.argmin(np.abs(THRESHOLD_GRID[best] - 0.5))]]))
    return out


def multi_label_report(
    y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str], thresholds: Sequence[float]
) -> dict:
    """Micro and macro F1, subset accuracy (every label of an example right) and per-label
    precision/recall/F1/support of multi-label decisions (N, labels) against 0/1 targets."""
    y_true, y_pred = np.asarray(y_true, bool), np.asarray(y_pred, bool)
    per_label = {}
    for k, name in enumerate(labels):
        tp, predicted, actual = (y_true[:, k] & y_pred[:, k]).sum(), y_pred[:, k].sum(), y_true[:, k].sum()
        p, r, f = _f1(float(tp), float(predicted), float(actual))
        per_label[name] = {"precision": p, "recall": r, "f1": f, "support": int(actual), "threshold": thresholds[k]}
    n = len(y_true)
    return {
        "problem_type": "multi_label_classification",
        "micro_f1": micro_f1(y_true, y_pred),
        "macro_f1": float(np.mean([m["f1"] for m in per_label.values()])),
        "subset_accuracy": float((y_true == y_pred).all(1).mean()) if n else 0.0,
        "n": n,
        "labels": list(labels),
        "per_label": per_label,
    }


def evaluate(ckpt: Checkpoint, data: Dataset, batch_size: int = 64, max_length: int | None = None) -> dict:
    """Accuracy, per-class figures and the confusion matrix (multi-label: ``multi_label_report`` at the
    model's thresholds); ``max_length`` is checked against the model first."""
    if max_length is not None:
        ckpt.config.check_length(max_length)
    logits = predict_logits(ckpt, data.texts, batch_size, max_length, desc="eval")
    if ckpt.config.multi_label:
        thresholds = ckpt.config.decision_thresholds()
        return multi_label_report(data.multi_hot(), decisions(logits, thresholds), ckpt.labels, thresholds)
    return classification_report(data.targets, logits.argmax(-1).tolist(), ckpt.labels)
