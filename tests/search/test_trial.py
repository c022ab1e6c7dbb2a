"""A trial's distillation bounded by steps, not by the clock: the same draw trains the same way whatever
else the machine is doing (under a 3-minute bound one MiniLM draw scored 0.891 and 0.875 on validation)."""

from __future__ import annotations

import subprocess
import sys

import optuna
import torch
from safetensors.torch import load_file

from ondevice.data import read_dataset
from ondevice.model import load_model
from ondevice.profile import targets
from ondevice.search.driver import measured_before
from ondevice.search.space import load_space
from ondevice.search.trial import TrialJob, _bounded, build
from ondevice.train import DistillConfig, finetune_held_out


def test_trial_bounds_set_the_steps_or_the_clock():
    job = TrialJob(0, None, {}, "m", "d", None, "onnx", 1, trial_minutes=None, trial_steps=7)
    step = _bounded(DistillConfig(epochs=3.0, batch_size=32), job)
    assert step.max_steps == 7 and step.epochs == 3.0 and step.max_minutes is None
    clocked = _bounded(DistillConfig(epochs=3.0), TrialJob(0, None, {}, "m", "d", None, "onnx", 1, 3.0))
    assert clocked.epochs == 3.0 and clocked.max_minutes == 3.0 and clocked.max_steps is None


def test_a_step_bound_trains_a_draw_the_same_way_under_load(search_model, search_data, tiny_space, tmp_path):
    ckpt = load_model(str(search_model))
    (train, val, _), _ = finetune_held_out(ckpt, search_data, read_dataset(search_data, ckpt.labels))
    space = load_space(str(tiny_space))
    fixed = optuna.trial.FixedTrial(
        {"1.prune.heads": 0.25, "1.prune.neurons": 0.25, "3.mixed_precision.embedding_bits": 8}
    )
    recipe, export = space.draw(fixed, "same")
    threads = torch.get_num_threads()

    def run(name: str) -> dict:
        job = TrialJob(0, recipe, export, str(search_model), str(tmp_path / name), targets.resolve("host"), "onnx", 1,
                       trial_minutes=None, trial_steps=6)  # fmt: skip
        return build(job, train, val, None)

    try:
        quiet = run("quiet")
        # the second build shares its core with a busy process: slower, so a clock bound would cut it elsewhere
        burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            loaded = run("loaded")
        finally:
            burner.kill()
            burner.wait()
    finally:
        torch.set_num_threads(threads)
    assert quiet["distill_steps"] == loaded["distill_steps"] == 6
    assert quiet["stopped_by_time"] is loaded["stopped_by_time"] is False
    assert (quiet["accuracy"], quiet["pytorch_accuracy"]) == (loaded["accuracy"], loaded["pytorch_accuracy"])
    a, b = (load_file(str(tmp_path / n / "checkpoint" / "model.safetensors")) for n in ("quiet", "loaded"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_draw_is_answered_from_an_earlier_trial_only_where_its_build_was_deterministic(tiny_space):
    """Under --trial-steps a draw built before (all its steps, the clock never reached) is not built
    again; any other bound, another draw or another export, or a trial that did not complete, is."""
    space = load_space(str(tiny_space))
    draw = {"1.prune.heads": 0.25, "1.prune.neurons": 0.25, "3.mixed_precision.embedding_bits": 8}
    recipe, export = space.draw(optuna.trial.FixedTrial(draw), "trial-7")
    job = TrialJob(7, recipe, export, "m", "d", None, "onnx", 1, trial_minutes=None, trial_steps=40)
    earlier_recipe, _ = space.draw(optuna.trial.FixedTrial(draw), "trial-2")
    earlier = {"number": 2, "state": "complete", "trial_steps": 40, "stopped_by_time": False,
               "recipe": earlier_recipe.to_dict(), "export": dict(export)}  # fmt: skip
    assert measured_before([earlier], job) is earlier  # another name, the same draw
    other, _ = space.draw(optuna.trial.FixedTrial({**draw, "1.prune.heads": 0.5}), "trial-3")
    for differs in (
        {"stopped_by_time": True},  # the clock cut it short: its figures are that day's load
        {"stopped_by_time": None},  # a record made before builds said
        {"trial_steps": 80},
        {"trial_steps": None},
        {"state": "failed"},
        {"state": "repeat"},
        {"recipe": other.to_dict()},
        {"export": {**export, "seq_lens": [16]}},
    ):
        assert measured_before([{**earlier, **differs}], job) is None, differs
    clocked = TrialJob(7, recipe, export, "m", "d", None, "onnx", 1, trial_minutes=3.0, trial_steps=None)
    assert measured_before([earlier], clocked) is None
