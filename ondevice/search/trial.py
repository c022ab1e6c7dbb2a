"""One trial of a search, in two halves that run as Ray tasks: ``build`` (compress, a short
distillation, export, verify: CPU work) and ``measure`` (profile the artifact on the target: a whole
node's CPUs, so that no build runs beside it, or one adb device that no other trial uses meanwhile).

Both are plain functions of picklable arguments, so they run the same in a Ray worker on any node and
in a test. Everything a trial makes goes to its own directory, ``<out>/trials/<number>/``:
``recipe.toml``, ``checkpoint/``, ``bundle/`` and ``profile/``; on a cluster of several machines that
directory must be on storage every node mounts at the same path.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ondevice.errors import DeviceDisconnected, OndeviceError

# What a profiling target's kind exports for: the input dtype and runtimes of ``ondevice export``.
EXPORT_TARGET = {"host": "host", "qemu": "linux-arm64", "android": "android"}


@dataclass
class TrialJob:
    number: int
    recipe: object  # ondevice.compress.recipe.Recipe
    export: dict  # quantization, seq_lens
    model: str  # the input model: a path every node can read
    directory: str  # <out>/trials/<number>
    target: object  # ondevice.profile.targets.Target
    format: str  # the artifact format measured: executorch, tflite or onnx
    threads: int  # torch threads of the build: the task's CPU share
    trial_minutes: float | None  # each distillation step's wall-clock bound
    seed: int = 0
    # Each distillation step's training steps (None: its recipe's epochs). A step bound, unlike the clock,
    # trains a draw the same way under any load: with 3 minutes, one draw scored 0.891 and 0.875.
    trial_steps: int | None = None
    every_format: bool = False  # export all the target's formats, not only ``format`` (a finished pick)

    @property
    def path(self) -> Path:
        return Path(self.directory)


def build(job: TrialJob, train, val, teacher_logits: np.ndarray | None) -> dict:
    """Compress, distil, save, export and verify one candidate; returns its figures so far.

    ``val`` is the split carved from the training data, texts the input model (the teacher) was not
    trained on: the distillation selects on it (not on a split of ``train``, which the teacher, and so
    a student that starts from its weights, remembers) and the artifact's accuracy on it is the
    trial's accuracy. The verification thresholds are export's own.
    """
    import torch

    from ondevice.compress.recipe import run_recipe
    from ondevice.export import ExportRequest, export_bundle
    from ondevice.model import load_model, save_checkpoint
    from ondevice.search.space import to_toml

    torch.set_num_threads(job.threads)
    job.path.mkdir(parents=True, exist_ok=True)
    recipe = job.recipe
    # The recipe as drawn, without the trial's time bound: what `compress --recipe` and --finish run in full.
    (job.path / "recipe.toml").write_text(to_toml(recipe, job.export))
    if job.trial_minutes or job.trial_steps:
        recipe = dataclasses.replace(recipe, steps=[_bounded(s, job) for s in recipe.steps])
    t0 = time.monotonic()
    ckpt = load_model(job.model)
    records = run_recipe(ckpt, recipe, train, val, seed=job.seed, teacher_logits=teacher_logits, select=val)
    trained = [r for r in records if r["kind"] in ("distill", "skim")]
    distill_s = sum(r["seconds"] for r in trained)
    compress_s = time.monotonic() - t0 - distill_s
    ckpt.source = str(job.path / "checkpoint")
    save_checkpoint(ckpt, job.path / "checkpoint")
    t1 = time.monotonic()
    req = ExportRequest(
        target=EXPORT_TARGET[job.target.kind],
        formats=[] if job.every_format else [job.format],
        quantizations=[job.export["quantization"]],
        seq_lens=list(job.export["seq_lens"]),
        threads=job.threads,
    )
    calibration = dataclasses.replace(train, examples=train.examples[:256])
    manifest = export_bundle(ckpt, job.path / "bundle", req, val, calibration)
    (artifact,) = [a for a in manifest["artifacts"] if a["format"] == job.format]
    check = artifact["verification"]
    return {
        "bundle": str(job.path / "bundle"),
        "artifact": artifact["file"],
        "size_bytes": artifact["size_bytes"],
        "accuracy": check["accuracy"],
        "pytorch_accuracy": check["reference_accuracy"],
        "label_agreement": check["label_agreement"],
        "parameters": records[-1]["parameters"],
        "steps": [{k: r[k] for k in ("kind", "parameters", "dev_accuracy", "seconds")} for r in records],
        # training steps the distillations took, and whether a --trial-minutes bound cut any short
        "distill_steps": sum((r["report"] or {}).get("steps", 0) for r in trained),
        "stopped_by_time": any((r["report"] or {}).get("stopped_by_time", False) for r in trained),
        "seconds": {
            "distill": round(distill_s, 1),
            "compress": round(compress_s, 1),
            "export": round(time.monotonic() - t1, 1),
        },
    }


def _bounded(step, job: TrialJob):
    """A distillation step of a trial's recipe with the trial's bounds: ``trial_minutes`` of wall clock,
    ``trial_steps`` training steps."""
    from ondevice.train import DistillConfig

    if not isinstance(step, DistillConfig):
        return step
    bounds = {"max_minutes": job.trial_minutes} if job.trial_minutes else {}
    if job.trial_steps:
        bounds["max_steps"] = job.trial_steps
    return dataclasses.replace(step, **bounds)


HOST_REPEATS = 3  # profiles of each trial on a host target; the median p50 is the trial's latency


def measure(job: TrialJob, built: dict, serial: str | None = None) -> dict:
    """Profile the trial's artifact on its target at the space's length: its p50 latency and peak memory."""
    from ondevice.profile.profiler import Options, profile

    target = dataclasses.replace(job.target, serial=serial) if serial else job.target
    t0 = time.monotonic()
    artifact = Path(built["bundle"]) / built["artifact"]
    seq_len = max(job.export["seq_lens"])
    # The target's own thread count, as `ondevice profile` runs it, and one runner, the target's first
    # for the format (the native one where there is one): a trial is compared with trials.
    opts = Options(seq_lens=[seq_len], runner=(target.runners_for(job.format) or (None,))[0])
    # On the host a profile's timed runs take a fraction of a second, so anything else that wakes up
    # then (a Ray daemon, the user's shell) shifts all of them: three profiles, and the median one counts.
    records = []
    for i in range(HOST_REPEATS if target.kind == "host" else 1):
        try:
            (path, rec), *_ = profile([artifact], target, opts, job.path / "profile" / str(i + 1))
        except OndeviceError as e:
            if serial and not _attached(serial):  # gone, not merely failing: the search stops using it
                raise DeviceDisconnected(f"device {serial} disconnected: {e}") from None
            raise
        records.append((rec["timing"]["p50_ms"], path, rec))
    _, path, rec = sorted(records, key=lambda r: r[0])[len(records) // 2]
    return {
        **built,
        "latency_ms": rec["timing"]["p50_ms"],
        "latency_p90_ms": rec["timing"]["p90_ms"],
        "latency_p50s_ms": [r[0] for r in records],
        "peak_rss_bytes": max(r[2]["memory"]["peak_rss_bytes"] for r in records),
        "profile_record": str(path),
        "device": serial or target.name,
        "seconds": {**built["seconds"], "profile": round(time.monotonic() - t0, 1)},
    }


def _attached(serial: str) -> bool:
    from ondevice.profile.adb import Adb

    try:
        return any(d.serial == serial and d.state == "device" for d in Adb(timeout=30).devices())
    except OndeviceError:
        return False
