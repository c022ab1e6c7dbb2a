"""Logits to what a user is shown: softmax probabilities of single-label models; sigmoid probabilities
and per-label decisions of multi-label ones. NumPy only, no torch: ``ondevice.Classifier`` runs without it,
and the app's core (``Predictions.java``) computes the same."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities over the last axis, shifted so that exp cannot overflow."""
    p = np.exp(logits - logits.max(-1, keepdims=True))
    return p / p.sum(-1, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Each label's probability in a multi-label model; tanh's form cannot overflow for any logit."""
    x = np.asarray(logits, dtype=np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def decisions(logits: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """(N, labels) booleans: which labels apply, each label's probability above its own threshold."""
    return sigmoid(logits) > np.asarray(thresholds, dtype=np.float64)
