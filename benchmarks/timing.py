"""Interleaved timing, shared by the benchmark scripts: one run of each contender in turn, so that
machine noise (other jobs, frequency changes) hits all of them alike."""

from __future__ import annotations

import time
from typing import Callable


def interleaved(fns: dict[str, Callable[[], object]], warmup: int, runs: int) -> dict[str, list[float]]:
    """Milliseconds per call of each function: ``warmup`` untimed calls each, then ``runs`` rounds."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            samples[name].append((time.perf_counter() - t0) * 1000)
    return samples
