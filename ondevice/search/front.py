"""The Pareto front of finished trials, the budget, and the pick: shared by ``search`` and ``report``.

A trial here is its record's dict: ``number``, ``state`` and, when complete, ``size_bytes``,
``latency_ms`` and ``accuracy``. Size and latency are minimised, accuracy maximised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

OBJECTIVES = {
    "size": ("size_bytes", "minimize"),
    "latency": ("latency_ms", "minimize"),
    "accuracy": ("accuracy", "maximize"),
}


LABELS = {"size_mb": "size", "latency_ms": "latency", "accuracy_drop": "accuracy drop"}


@dataclass(frozen=True)
class Budget:
    max_size_mb: float | None = None
    max_latency_ms: float | None = None
    max_accuracy_drop: float | None = None  # below the input model's accuracy on the same split
    base_accuracy: float | None = None

    def limits(self) -> list[tuple[str, str, float]]:
        """(figure, unit, bound) for each bound given: what ``violations`` measures against."""
        out = []
        if self.max_size_mb is not None:
            out.append(("size_mb", "MB", self.max_size_mb))
        if self.max_latency_ms is not None:
            out.append(("latency_ms", "ms", self.max_latency_ms))
        if self.max_accuracy_drop is not None:
            out.append(("accuracy_drop", "points", self.max_accuracy_drop * 100))
        return out

    def excess(self, t: dict) -> dict[str, float]:
        """How far past each bound the trial is, in the bound's unit (<= 0: within it)."""
        figures = {
            "size_mb": t["size_bytes"] / 1e6,
            "latency_ms": t["latency_ms"],
            "accuracy_drop": (self.base_accuracy - t["accuracy"]) * 100 if self.base_accuracy is not None else 0.0,
        }
        return {name: figures[name] - bound for name, _, bound in self.limits()}

    def fits(self, t: dict) -> bool:
        return all(v <= 0 for v in self.excess(t).values())

    def shortfall(self, t: dict) -> float:
        """The summed relative excess over every bound: what 'closest to the budget' minimises."""
        bounds = [b for _, _, b in self.limits()]
        return sum(max(0.0, v) / max(abs(b), 1e-9) for b, v in zip(bounds, self.excess(t).values(), strict=True))

    def describe(self) -> str:
        parts = [f"{LABELS[name]} <= {bound:g} {unit}" for name, unit, bound in self.limits()]
        return ", ".join(parts) or "no bounds"


def complete(trials: list[dict]) -> list[dict]:
    return [t for t in trials if t.get("state") == "complete"]


def dominates(a: dict, b: dict, objectives: list[str]) -> bool:
    better = False
    for name in objectives:
        key, direction = OBJECTIVES[name]
        x, y = (a[key], b[key]) if direction == "minimize" else (b[key], a[key])
        if x > y:
            return False
        better |= x < y
    return better


def pareto_front(trials: list[dict], objectives: list[str]) -> list[dict]:
    """The complete trials no other complete trial dominates, by number."""
    done = complete(trials)
    return [t for t in done if not any(dominates(o, t, objectives) for o in done if o is not t)]


def pick(trials: list[dict], budget: Budget, examples: int | None = None) -> tuple[dict | None, dict | None]:
    """(the pick, the closest trial). The pick fits every bound; among the trials that fit, those within one
    standard error of the most accurate one's validation accuracy are taken as equally accurate (the
    one-standard-error rule, with the binomial error of ``examples`` validation texts; without
    ``examples``, only equal accuracies tie), and the smallest of them, then the fastest, is the pick. On
    1,000 texts at 0.90 one standard error is 0.95 points: ranking trials closer than that ranks noise.
    Where none fits there is no pick, and the closest is the trial with the least summed relative excess."""
    done = complete(trials)
    fitting = [t for t in done if budget.fits(t)]
    if fitting:
        best = max(t["accuracy"] for t in fitting)
        error = math.sqrt(best * (1 - best) / examples) if examples else 0.0
        tied = [t for t in fitting if t["accuracy"] >= best - error - 1e-12]
        chosen = min(tied, key=lambda t: (t["size_bytes"], t["latency_ms"], -t["accuracy"], t["number"]))
        return chosen, chosen
    closest = min(done, key=lambda t: (budget.shortfall(t), t["number"])) if done else None
    return None, closest
