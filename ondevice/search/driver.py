"""``ondevice search``: trials drawn by Optuna, run as Ray tasks, recorded under ``--out``.

The driver (this process) reads the data, carves the validation split out of the training data,
computes the teacher's logits once, and keeps ``workers`` trials in flight: Optuna's sampler draws a
recipe from the search space (``ondevice.search.space``), a Ray task builds it (``trial.build``) and
another measures it on the target (``trial.measure``), and the figures go back to the study with the
budget's bounds as constraints. The study lives in a journal file under ``--out``, so a stopped search
resumes with ``--resume``: finished trials are kept, and trials cut off in flight are run again.

``--out`` holds::

    search.json        what the search is: model, data, space, target, budget (a resume must match)
    study.log          Optuna's journal
    teacher.npy        the teacher's logits on the training part, shared by every trial
    trials/NNNN/       record.json, recipe.toml, checkpoint/, bundle/, profile/
    results.json       every trial, the Pareto front and the pick
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ondevice.errors import ConfigError, DeviceDisconnected, OndeviceError
from ondevice.jsonfile import read_json
from ondevice.output import write_bytes, write_json
from ondevice.search.front import LABELS, OBJECTIVES, Budget, pareto_front, pick

META = "search.json"
RESULTS = "results.json"
STUDY = "study.log"
TEACHER = "teacher.npy"
FORMAT = "ondevice-search"


class SearchError(OndeviceError):
    """The search ran but cannot give what was asked (no trial fits the budget)."""


@dataclass
class SearchSettings:
    model: str
    data: Path
    target: str
    out: Path
    columns: object = None  # ondevice.data.Columns
    space: str | None = None  # None: the shipped default
    format: str = "executorch"
    objectives: list[str] = field(default_factory=lambda: ["size", "latency", "accuracy"])
    max_size_mb: float | None = None
    max_latency_ms: float | None = None
    max_accuracy_drop: float | None = None
    trials: int = 20
    time_budget_minutes: float | None = None
    trial_minutes: float | None = 5.0
    trial_steps: int | None = None
    workers: int = 1
    ray_address: str | None = None
    resume: bool = False
    seed: int = 0
    val_size: int = 1000

    def __post_init__(self) -> None:
        unknown = [o for o in self.objectives if o not in OBJECTIVES]
        if unknown or not self.objectives or len(set(self.objectives)) != len(self.objectives):
            raise ConfigError(
                f"--objectives {','.join(self.objectives)}: give distinct names from {', '.join(OBJECTIVES)}"
            )
        for name in ("max_size_mb", "max_latency_ms", "time_budget_minutes", "trial_minutes"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive")
        if self.max_accuracy_drop is not None and not 0 <= self.max_accuracy_drop < 1:
            raise ConfigError("--max-accuracy-drop is a share of accuracy in [0, 1), e.g. 0.01 for one point")
        if self.trials < 1 or self.workers < 1 or self.val_size < 1:
            raise ConfigError("--trials, --workers and --val-size must be at least 1")
        if self.trial_steps is not None and self.trial_steps < 1:
            raise ConfigError(f"--trial-steps must be at least 1, not {self.trial_steps}")


def fingerprint(files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def model_files(spec: str) -> list[Path]:
    """The files that make the model: a resumed search must find the same ones."""
    from ondevice.model.checkpoint import ASSETS
    from ondevice.model.hf import resolve_source

    if spec in (None, "default"):
        return sorted(ASSETS.glob("default_*"))
    path = resolve_source(spec)
    return sorted(f for f in path.iterdir() if f.is_file())


def _meta(s: SearchSettings, space, target) -> dict:
    return {
        "format": FORMAT,
        "model": {"spec": s.model, "sha256": fingerprint(model_files(s.model))},
        "data": {"path": str(s.data), "sha256": fingerprint([s.data])},
        "space": {"path": space.path, "name": space.name, "sha256": space.digest},
        "target": target.name + (f":{target.serial}" if target.serial else ""),
        "artifact_format": s.format,
        "objectives": s.objectives,
        "budget": {k: getattr(s, k) for k in ("max_size_mb", "max_latency_ms", "max_accuracy_drop")},
        "seed": s.seed,
        "val_size": s.val_size,
        "columns": repr(s.columns),
    }


_SAME = {
    "model": "model",
    "data": "training data",
    "space": "search space",
    "target": "target",
    "artifact_format": "--format",
    "objectives": "--objectives",
    "budget": "budget",
    "seed": "--seed",
    # not --val-size: where the validation texts are the fine-tune's it plays no part, and where it carved
    # them it is in the split compared once the data is read ("another validation split")
    "columns": "--text-columns/--label-column",
}


def _check_resume(out: Path, meta: dict) -> dict:
    """The stored meta of a search at ``out`` that this one may resume; refuses any difference."""
    old = read_json(out / META, ConfigError, f"--resume: {out} holds no search ({META} is missing)")
    if not isinstance(old, dict) or old.get("format") != FORMAT:
        raise ConfigError(f"--resume: {out / META} is not an ondevice search record")
    for key, what in _SAME.items():
        a, b = old.get(key), meta[key]
        if key in ("model", "data", "space"):
            a, b = (a or {}).get("sha256"), b["sha256"]
        if a != b:
            raise ConfigError(
                f"--resume: {out} is a search with another {what} "
                f"({_short(old.get(key))} there, {_short(meta[key])} now); give a new --out"
            )
    return old


def _short(v) -> str:
    if isinstance(v, dict) and "sha256" in v:
        return f"{v.get('path') or v.get('spec')} sha256 {v['sha256'][:12]}"
    return json.dumps(v)


def _prepare(s: SearchSettings, status: Callable[[str], None]):
    """Everything the trials share: refused early, before any cluster starts."""
    from ondevice.converters import FORMATS
    from ondevice.data import read_dataset
    from ondevice.model import load_model
    from ondevice.output import check_writable
    from ondevice.profile import targets
    from ondevice.search.cluster import check_address
    from ondevice.search.space import load_space
    from ondevice.search.trial import EXPORT_TARGET

    space = load_space(s.space)
    target = targets.resolve(s.target)
    if s.ray_address:  # now, not after the teacher's logits: Ray's own client would retry for minutes
        check_address(s.ray_address)
    if s.format not in FORMATS:
        raise ConfigError(f"--format {s.format!r}: use one of {', '.join(FORMATS)}")
    from ondevice.export import TARGETS

    if s.format not in TARGETS[EXPORT_TARGET[target.kind]]["formats"]:
        raise ConfigError(f"--format {s.format}: target {target.name} ({target.kind}) does not run it")
    out = s.out
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file")
    started = out.is_dir() and any(out.iterdir())
    if started and not s.resume:
        raise ConfigError(f"--out {out} is not empty; give --resume to continue the search there, or a new --out")
    if s.resume and not started:
        raise ConfigError(f"--resume: {out} holds no search to resume")
    meta = _meta(s, space, target)
    if s.resume:
        meta = {**_check_resume(out, meta), "resumed": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    check_writable(out / META, 1 << 20)
    ckpt = load_model(s.model)
    pairs = ckpt.tokenizer.settings.text_pair
    data = read_dataset(s.data, ckpt.labels, s.columns, pairs=pairs, multi_label=ckpt.config.multi_label)
    train, val, split = _validation_split(s, ckpt, data, status)
    if s.resume and meta.get("val_split") != split:
        raise ConfigError(
            f"--resume: {out} is a search with another validation split ({_short(meta.get('val_split'))} there, "
            f"{_short(split)} now); give a new --out"
        )
    meta["val_split"] = split
    meta["val_examples"] = len(val)  # what the pick's standard error is of
    return space, target, meta, ckpt, train, val


def _validation_split(s: SearchSettings, ckpt, data, status) -> tuple:
    """(train, val, how they were carved). The texts the input model's fine-tuning held out of this same
    file and never trained on, where its record says which; else ``--val-size`` whole texts carved here.

    Texts the input model was trained on are no test of a compressed copy of it: on 1,000 SST-2 training
    sentences the fine-tuned MiniLM scored 0.974 (0.896 on dev), and a trial that keeps more of the
    input model keeps more of that memory, so the search would favour the larger trials.
    """
    from ondevice.data import SPLIT
    from ondevice.train import finetune_held_out

    split, note = finetune_held_out(ckpt, s.data, data)
    if split is not None:
        status(
            f"validation: the {len(split[1])} texts of --data that the input model's fine-tuning held out, "
            "never trained on"
        )
        return split
    if note:
        status(f"note: {note}; the validation texts are carved here instead")
    if len(data) < 2 * s.val_size:
        raise ConfigError(
            f"--data has {len(data)} examples; the validation split takes --val-size {s.val_size} and needs "
            "at least as many left to train on"
        )
    train, val = data.split(1.0, s.seed, most=s.val_size)  # whole texts, their phrases kept out of training
    if len(train) < s.val_size:
        raise ConfigError(
            f"--data: holding out --val-size {s.val_size} of its texts, with the phrases inside them, leaves "
            f"{len(train)} examples to train on; give a smaller --val-size"
        )
    status(
        f"note: {s.model}'s record names no texts of --data that it was not trained on, so the {len(val)} held out "
        "for validation may be ones it learned: its accuracy there, and that of trials close to it, may be memory. "
        "A model fine-tuned on this file by `ondevice finetune` records the texts it held out, and the search "
        "validates on those."
    )
    return train, val, {"method": SPLIT, "from": "--val-size", "seed": s.seed, "most": s.val_size}


def _teacher(s: SearchSettings, meta: dict, ckpt, train, val, space, status) -> tuple[np.ndarray | None, float]:
    """The input model's logits on the training part, computed once and stored, at the length the
    space's distillations train at (None where their lengths differ: each trial then computes its own),
    and the input model's validation accuracy at the space's length."""
    from ondevice.train import dev_accuracy, teacher_logits

    length = distill_length(space)
    path = s.out / TEACHER
    if "base_accuracy" in meta and (length is None or path.is_file()):
        logits = np.load(path) if length is not None else None
        if logits is None or logits.shape == (len(train), ckpt.config.num_labels):
            return logits, meta["base_accuracy"]
    logits = None
    if length is not None:
        status(f"teacher: logits of {ckpt.source} on {len(train)} training examples (once, for every trial)")
        logits = teacher_logits(ckpt, train, min(length, ckpt.config.max_length))
        buf = io.BytesIO()
        np.save(buf, logits)
        write_bytes(path, buf.getvalue())
    return logits, dev_accuracy(ckpt, val, space.seq_len)


def distill_length(space) -> int | None:
    """The one length every distilling step of the space trains at, or None if they differ (or are drawn)."""
    from ondevice.train import DistillConfig

    lengths = set()
    for step in space.steps:
        if step.kind in ("distill", "skim"):
            if "max_length" in step.params:
                return None
            lengths.add(step.fixed.get("max_length", DistillConfig.max_length))
    return lengths.pop() if len(lengths) == 1 else None


def usable_cpus() -> int:
    """The CPUs this process may run on (what taskset or a cgroup's cpuset leave it), not the machine's count:
    a search or a finish pinned to some cores builds with as many threads as it has cores."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this OS
        return os.cpu_count() or 1


def _trial_dir(out: Path, number: int) -> Path:
    return out / "trials" / f"{number:04d}"


def load_trials(out: Path) -> list[dict]:
    """Every trial record under ``out``, by number."""
    trials = []
    for f in sorted((out / "trials").glob("*/record.json")):
        rec = read_json(f, SearchError)
        if isinstance(rec, dict) and isinstance(rec.get("number"), int):
            trials.append(rec)
    return sorted(trials, key=lambda t: t["number"])


def search(s: SearchSettings, status: Callable[[str], None]) -> dict:
    """Run (or resume) a search; returns the results that ``results.json`` holds."""
    import optuna

    from ondevice.search.cluster import (
        ClusterError,
        answers,
        cluster,
        cluster_cpus,
        cluster_devices,
        cluster_gone,
        head_address,
        node_cpu_count,
        wait_one,
    )
    from ondevice.search.trial import build, measure

    space, target, meta, ckpt, train, val = _prepare(s, status)
    s.out.mkdir(parents=True, exist_ok=True)
    write_json(s.out / META, meta)
    logits, base_accuracy = _teacher(s, meta, ckpt, train, val, space, status)
    meta["base_accuracy"] = base_accuracy
    write_json(s.out / META, meta)
    budget = Budget(s.max_size_mb, s.max_latency_ms, s.max_accuracy_drop, base_accuracy)
    # Workers load the model themselves: a directory by its absolute path, an alias as it is.
    local = Path(str(s.model)).expanduser()
    model_spec = str(local.resolve()) if s.model and local.exists() else s.model

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = _study(s, budget)
    _requeue_interrupted(study, s.out, status)

    devices = []
    if target.kind == "android" and not s.ray_address:
        from ondevice.profile.adb import Adb
        from ondevice.profile.android import select_devices

        devices = select_devices(Adb(), [x for x in (target.serial or "").split(",") if x], all_devices=True)

    started, stamp = time.monotonic(), dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    deadline = started + s.time_budget_minutes * 60 if s.time_budget_minutes else None
    with cluster(s.ray_address, usable_cpus(), devices) as ray:
        if target.kind == "android":
            devices = cluster_devices(ray)
            if not devices:
                raise ConfigError(
                    "no adb device on the cluster: start its nodes with --resources '{\"adb:SERIAL\": 1}'"
                )
        cpus, node_cpus = max(1, cluster_cpus(ray)), node_cpu_count(ray)
        head = head_address(ray)
        where = {
            "address": s.ray_address or "local",
            "nodes": sorted({n["NodeManagerAddress"] for n in ray.nodes() if n.get("Alive")}),
            "cpus": cpus,
            "devices": devices,
        }
        share = max(1, cpus // s.workers)
        status(
            f"search: {s.trials} trials, {s.workers} at a time on {cpus} CPUs ({share} each)"
            + (f", {len(devices)} device(s)" if devices else "")
            + f"; model {ckpt.source}, {len(train)} training and {len(val)} validation examples "
            f"(input model's validation accuracy {base_accuracy:.4f}); budget: {budget.describe()}"
        )
        refs = {name: ray.put(v) for name, v in (("train", train), ("val", val), ("logits", logits))}
        build_task = ray.remote(num_cpus=share, max_retries=0)(build)
        measure_task = ray.remote(max_retries=0)(measure)
        inflight: dict = {}  # ObjectRef -> (stage, optuna trial, job, device)
        waiting: list = []  # (trial, job, built): built, no device free yet
        free = list(devices)

        def finished(repeats: bool = True) -> int:
            """Trials told to the study, a stopped run's cut-off ones not counted; ``repeats=False``: only
            those that were built (a repeated draw answered from an earlier trial costs nothing)."""
            states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL)
            return sum(
                1
                for t in study.get_trials(deepcopy=False, states=states)
                if not t.user_attrs.get("interrupted") and (repeats or "repeat_of" not in t.user_attrs)
            )

        def submit_measure(trial, job, built) -> None:
            if target.kind == "android":
                if not free:
                    waiting.append((trial, job, built))
                    return
                serial = free.pop(0)
                ref = measure_task.options(num_cpus=0, resources={f"adb:{serial}": 1}).remote(job, built, serial)
                inflight[ref] = ("measure", trial, job, serial)
            else:  # every CPU of a node: the latency is measured with no build running beside it
                inflight[measure_task.options(num_cpus=node_cpus).remote(job, built)] = ("measure", trial, job, None)

        finished_before, built_before = finished(), finished(repeats=False)
        try:
            while True:
                while (
                    len({id(v[1]) for v in inflight.values()}) + len(waiting) < s.workers
                    and finished() + len(inflight) + len(waiting) < s.trials
                    and (deadline is None or time.monotonic() < deadline)
                ):
                    trial = study.ask()
                    job = _job(s, space, trial, model_spec, target, share)
                    earlier = measured_before(load_trials(s.out), job)
                    if earlier is not None:
                        _repeat(study, trial, job, earlier, budget, s.objectives, status)
                        continue
                    _write_record(job, trial, "running")
                    ref = build_task.remote(job, refs["train"], refs["val"], refs["logits"])
                    inflight[ref] = ("build", trial, job, None)
                if not inflight:
                    break
                done = wait_one(ray, list(inflight), head, s.ray_address)
                try:
                    result, error = ray.get(done), None
                except Exception as e:  # a trial's own failure: recorded, the search goes on
                    if not answers(head):  # unless the cluster has gone under it: that trial is not at fault
                        raise cluster_gone(s.ray_address, head, len(inflight)) from None
                    result, error = None, e
                stage, trial, job, serial = inflight.pop(done)
                if serial:
                    if isinstance(getattr(error, "cause", error), DeviceDisconnected):
                        status(f"device {serial} left the search; its trial is recorded as failed")
                    else:
                        free.append(serial)
                    if not free and not any(v[3] for v in inflight.values()):
                        _fail(study, trial, job, stage, error, status, budget)
                        raise ClusterError(
                            f"every adb device of the search has gone (the last, {serial}, disconnected); "
                            "attach one and run the search again with --resume"
                        )
                    while free and waiting:
                        submit_measure(*waiting.pop(0))
                if error is not None:
                    _fail(study, trial, job, stage, error, status, budget)
                    continue
                if stage == "build":
                    submit_measure(trial, job, result)
                else:
                    _complete(study, trial, job, result, budget, s.objectives, status)
        finally:
            # Stopped (a signal): the trials in flight stay "running", and --resume redoes them. They are not
            # cancelled here: a cancel that meets a task's reply on its way trips a check in Ray's task manager
            # and aborts the process (seen in CI: exit 1 on SIGINT, ray-project/ray PR 54785 describes the race).
            # Leaving Ray ends them: the local cluster is shut down, and a joined one ends a job's tasks when
            # its driver goes.
            # Each run's time and finished trials, a stopped one's too: what trials per hour is made of.
            elapsed = time.monotonic() - started
            built = finished(repeats=False) - built_before
            repeated = finished() - finished_before - built
            meta.setdefault("runs", []).append(
                {"started": stamp, "seconds": round(elapsed, 1), "trials_finished": built, "repeats": repeated}
            )
            write_json(s.out / META, meta, stopping=True)  # a stopped run's too, as the stop unwinds
    results = _results(s, meta, budget, where)
    status(
        f"search: {built} trials finished in {elapsed / 60:.1f} min"
        + (f", and {repeated} repeated draw(s) answered from earlier trials" if repeated else "")
    )
    return results


def _study(s: SearchSettings, budget: Budget):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    constraints = (lambda t: t.user_attrs.get("constraints", [0.0])) if budget.limits() else None
    storage = JournalStorage(JournalFileBackend(str(s.out / STUDY)))
    directions = [OBJECTIVES[o][1] for o in s.objectives]
    study = optuna.create_study(study_name="search", storage=storage, directions=directions, load_if_exists=True)
    # Seeded by --seed and the trials already there: a resumed search goes on drawing where it stopped,
    # instead of replaying the first run's draws (the same random start, the same recipes again).
    seed = s.seed + len(study.get_trials(deepcopy=False))
    study.sampler = optuna.samplers.TPESampler(seed=seed, constraints_func=constraints, n_startup_trials=4)
    return study


def _requeue_interrupted(study, out: Path, status) -> None:
    """Trials a stopped search left running are marked interrupted and drawn again, first."""
    import optuna

    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study._storage.set_trial_user_attr(t._trial_id, "interrupted", True)
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)
        study.enqueue_trial(t.params)
        path = _trial_dir(out, t.number) / "record.json"
        if path.is_file():
            rec = read_json(path, SearchError)
            write_json(path, {**rec, "state": "interrupted"})
        status(f"trial {t.number} was cut off by the stop; it runs again")


def _job(s: SearchSettings, space, trial, model_spec: str, target, share: int):
    from ondevice.search.trial import TrialJob

    recipe, export = space.draw(trial, f"trial-{trial.number}")
    return TrialJob(
        number=trial.number,
        recipe=recipe,
        export=export,
        model=model_spec,
        directory=str(_trial_dir(s.out, trial.number)),
        target=target,
        format=s.format,
        threads=share,
        trial_minutes=s.trial_minutes,
        trial_steps=s.trial_steps,
        seed=s.seed,
    )


def _write_record(job, trial, state: str, **extra) -> None:
    from ondevice.search.space import as_drawn

    rec = {
        "number": job.number,
        "state": state,
        "params": {k: as_drawn(v) for k, v in trial.params.items()},  # as the recipe has them
        "recipe": job.recipe.to_dict(),
        "export": job.export,
        "directory": job.directory,
        "trial_steps": job.trial_steps,
        **extra,
    }
    write_json(Path(job.directory) / "record.json", rec)


def _draw(recipe: dict, export: dict) -> str:
    """What a trial builds, without its name: two trials with equal draws build the same candidate."""
    return json.dumps([{k: v for k, v in recipe.items() if k not in ("name", "description")}, export], sort_keys=True)


def measured_before(trials: list[dict], job) -> dict | None:
    """The complete trial that built ``job``'s draw under the same step bound, if there is one.

    TPE redraws configurations it has already tried (two of twelve MiniLM trials in one run, each five
    minutes). Under ``--trial-steps`` a draw's build is deterministic: the same draw, built twice, has
    bit-identical weights, so a second build would only time the same artifact again. Under a clock
    bound alone, or where the clock cut the earlier trial short, its figures depend on the machine's
    load that day, and the draw is built again."""
    if not job.trial_steps:
        return None
    draw = _draw(job.recipe.to_dict(), job.export)
    for t in trials:
        if (
            t.get("state") == "complete"
            and t.get("trial_steps") == job.trial_steps
            and t.get("stopped_by_time") is False
            and _draw(t["recipe"], t["export"]) == draw
        ):
            return t
    return None


# What the sampler is told of a failed trial: past every bound by this much, and the worst figures.
FAILED_EXCESS = 1e9


def _fail(study, trial, job, stage: str, e: Exception, status, budget: Budget) -> None:
    """Record the trial as failed, with its error, and tell the sampler to draw elsewhere.

    Optuna's samplers learn nothing from a FAIL trial, so TPE drew a failing configuration again and
    again (on MiniLM: three trials in a row of one draw, each failing verification). It is told instead
    as a complete trial with the worst figures, past every bound of the budget: the kind of draw TPE
    moves away from. Its record, the front and the pick know it as failed.
    """
    from optuna.study import StudyDirection

    cause = getattr(e, "cause", None) or e  # a Ray task error wraps the trial's own exception
    text = str(cause).strip()
    message = text.splitlines()[-1] if isinstance(cause, OndeviceError) else f"{type(cause).__name__}: {text[-500:]}"
    _write_record(job, trial, "failed", failed_in=stage, error=message)
    trial.set_user_attr("failed", True)
    if budget.limits():
        trial.set_user_attr("constraints", [FAILED_EXCESS] * len(budget.limits()))
    study.tell(trial, [FAILED_EXCESS if d == StudyDirection.MINIMIZE else -FAILED_EXCESS for d in study.directions])
    status(f"trial {trial.number} failed in {stage}: {message}")


def _tell(study, trial, figures: dict, budget: Budget, objectives: list[str]) -> None:
    """Tell the study a trial's figures, with the budget's excess as its constraints."""
    if budget.limits():
        trial.set_user_attr("constraints", list(budget.excess(figures).values()))
    study.tell(trial, [figures[OBJECTIVES[o][0]] / (1e6 if o == "size" else 1) for o in objectives])


def _complete(study, trial, job, result: dict, budget: Budget, objectives: list[str], status) -> None:
    rec = {k: v for k, v in result.items()}
    figures = {"size_bytes": rec["size_bytes"], "latency_ms": rec["latency_ms"], "accuracy": rec["accuracy"]}
    fits = budget.fits(figures)
    _write_record(job, trial, "complete", fits=fits, **rec)
    _tell(study, trial, figures, budget, objectives)
    sec = rec["seconds"]
    status(
        f"trial {trial.number}: {rec['size_bytes'] / 1e6:.2f} MB, {rec['latency_ms']:.2f} ms, accuracy "
        f"{rec['accuracy']:.4f}{' (fits)' if budget.limits() and fits else ''}"
        f"  [distill {sec['distill']:.0f} s, compress {sec['compress']:.0f} s, export {sec['export']:.0f} s, "
        f"profile {sec['profile']:.0f} s]"
    )


def _repeat(study, trial, job, earlier: dict, budget: Budget, objectives: list[str], status) -> None:
    """A draw measured before: the study is told the earlier trial's figures and nothing is built. Its
    record (state ``repeat``) names that trial; the front and the pick know only the earlier one."""
    figures = {k: earlier[k] for k in ("size_bytes", "latency_ms", "accuracy")}
    trial.set_user_attr("repeat_of", earlier["number"])
    _write_record(job, trial, "repeat", repeat_of=earlier["number"], fits=budget.fits(figures), **figures)
    _tell(study, trial, figures, budget, objectives)
    status(f"trial {trial.number} drew trial {earlier['number']}'s configuration again: not built, its figures stand")


def _results(s: SearchSettings, meta: dict, budget: Budget, where: dict) -> dict:
    trials = load_trials(s.out)
    front = pareto_front(trials, s.objectives)
    chosen, closest = pick(trials, budget, meta.get("val_examples"))
    results = {
        "out": str(s.out),
        "search": meta,
        "trials": trials,
        "front": [t["number"] for t in front],
        "pick": chosen["number"] if chosen else None,
        "closest": closest["number"] if closest else None,
        "budget": {**asdict(budget)},
        "cluster": where,
    }
    write_json(s.out / RESULTS, results)
    return results


def finish(s: SearchSettings, which: str, status: Callable[[str], None]) -> dict:
    """The full recipe of the pick (``which`` = "pick") or of trial ``which``: distillation without the
    trial's time bound, every format of the target exported and verified, then measured like a trial.
    Writes ``<out>/finish/`` for the pick, ``<out>/finish-<N>/`` for trial N named by number (each holding
    checkpoint, bundle, profile, record.json): ``finish/`` is only ever the pick."""
    from ondevice.compress.recipe import load_recipe
    from ondevice.output import check_writable
    from ondevice.search.trial import TrialJob, build, measure

    s.resume = True
    space, target, meta, ckpt, train, val = _prepare(s, status)
    logits, base_accuracy = _teacher(s, meta, ckpt, train, val, space, status)
    budget = Budget(s.max_size_mb, s.max_latency_ms, s.max_accuracy_drop, base_accuracy)
    trials = load_trials(s.out)
    if which == "pick":
        chosen, closest = pick(trials, budget, meta.get("val_examples"))
        if chosen is None:
            raise SearchError(_no_fit(budget, closest) + "; give --finish N to finish a trial by its number")
    else:
        if not which.isdigit():
            raise ConfigError(f"--finish {which!r}: give a trial number, or --finish alone for the pick")
        chosen = next((t for t in trials if t["number"] == int(which)), None)
        if chosen is not None and chosen["state"] == "repeat":
            raise ConfigError(
                f"--finish {which}: trial {which} drew trial {chosen['repeat_of']}'s configuration again and was "
                f"not built; give --finish {chosen['repeat_of']}"
            )
        if chosen is None or chosen["state"] != "complete":
            done = ", ".join(str(t["number"]) for t in trials if t["state"] == "complete") or "none"
            raise ConfigError(f"--finish {which}: no complete trial of that number (complete trials: {done})")
    directory = s.out / ("finish" if which == "pick" else f"finish-{chosen['number']}")
    if directory.exists():
        what = "the pick" if which == "pick" else f"trial {chosen['number']}"
        raise ConfigError(f"{directory} exists: {what} was finished before; move it away to finish again")
    check_writable(directory / "record.json", 1 << 20)
    trial_dir = Path(chosen["directory"])
    recipe = load_recipe(str(_trial_dir(s.out, chosen["number"]) / "recipe.toml"))
    status(
        f"finishing trial {chosen['number']} ({trial_dir.name}): its recipe in full, then every format of {target.name}"
    )
    local = Path(str(s.model)).expanduser()
    job = TrialJob(
        number=chosen["number"],
        recipe=recipe,
        export=chosen["export"],
        model=str(local.resolve()) if s.model and local.exists() else s.model,
        directory=str(directory),
        target=target,
        format=s.format,
        threads=usable_cpus(),
        trial_minutes=None,
        seed=s.seed,
        every_format=True,
    )
    result = measure(job, build(job, train, val, logits), target.serial)
    record = {
        "trial": chosen["number"],
        "trial_figures": {k: chosen[k] for k in ("size_bytes", "latency_ms", "accuracy")},
        **result,
    }
    write_json(directory / "record.json", record)
    return record


def _no_fit(budget: Budget, closest: dict | None) -> str:
    if closest is None:
        return "no trial finished, so none meets the budget"
    over = ", ".join(
        f"{LABELS[name]} {bound + v:.3g} {unit} > {bound:g}"
        for (name, unit, bound), v in zip(budget.limits(), budget.excess(closest).values(), strict=True)
        if v > 0
    )
    return f"no trial meets the budget ({budget.describe()}); the closest is trial {closest['number']} ({over})"
