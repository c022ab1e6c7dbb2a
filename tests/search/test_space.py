"""Search spaces and the Pareto front, without a cluster: what a space file means, what a draw is, and
how the front, the pick and the closest trial are chosen."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import optuna
import pytest

from ondevice.compress.recipe import load_recipe
from ondevice.errors import ConfigError
from ondevice.search.driver import _write_record, usable_cpus
from ondevice.search.front import Budget, pareto_front, pick
from ondevice.search.space import Param, load_space, to_toml
from ondevice.search.trial import TrialJob

optuna.logging.set_verbosity(optuna.logging.WARNING)


def draws(space, n: int, seed: int = 0):
    study = optuna.create_study(directions=["minimize"], sampler=optuna.samplers.RandomSampler(seed=seed))
    for i in range(n):
        trial = study.ask()
        yield trial, *space.draw(trial, f"trial-{i}")


def test_default_space_draws_recipes_that_compress_reads_back(tmp_path):
    space = load_space()
    assert space.name == "default" and space.seq_len == 128
    names = {p.name for p in space.params()}
    assert {"1.vocab.on", "2.prune.heads", "2.prune.neurons", "2.prune.sublayers", "3.lowrank.on"} <= names
    assert {"export.quantization", "5.mixed_precision.embedding_bits"} <= names
    kinds_seen, exports_seen, drifted = set(), set(), 0
    for trial, recipe, export in draws(space, 30):
        f = tmp_path / f"{recipe.name}.toml"
        f.write_text(to_toml(recipe, export))
        again = load_recipe(str(f))
        assert again.to_dict() == recipe.to_dict()
        kinds = [s.kind for s in recipe.steps]
        assert kinds[-2:] == ["distill", "mixed_precision"] and "prune" in kinds
        assert ("vocab" in kinds) == trial.params["1.vocab.on"]
        assert ("lowrank" in kinds) == trial.params["3.lowrank.on"]
        prune = next(s for s in recipe.steps if s.kind == "prune")
        assert 0 <= prune.heads <= 0.5 and (prune.heads / 0.125).is_integer()
        assert prune.neurons == round(prune.neurons, 1)  # a step of 0.1 draws 0.3, not 0.30000000000000004
        # and a trial's record names the draw as the recipe has it, not as Optuna stores it
        where = tmp_path / str(trial.number)
        _write_record(TrialJob(trial.number, recipe, export, "", str(where), "host", "executorch", 1, 1.0), trial, "ok")
        recorded = json.loads((where / "record.json").read_text())["params"]
        assert recorded["2.prune.neurons"] == prune.neurons and recorded.keys() == trial.params.keys()
        drifted += trial.params["2.prune.neurons"] != prune.neurons
        assert isinstance(prune.sublayers, int) and 0 <= prune.sublayers <= 2
        assert export["quantization"] in ("int8-dynamic", "int8-static") and export["seq_lens"] == [128]
        if recipe.steps[-1].embedding_bits == 4:  # 4-bit weights export with int8-dynamic only: not drawn
            assert export["quantization"] == "int8-dynamic" and "export.quantization" not in trial.params
        kinds_seen.add(tuple(kinds))
        exports_seen.add((recipe.steps[-1].embedding_bits, export["quantization"]))
    assert len(kinds_seen) == 4  # vocab and lowrank each on and off
    assert exports_seen == {(4, "int8-dynamic"), (8, "int8-dynamic"), (8, "int8-static")}
    assert drifted  # Optuna's stored floats drifted for some draws: the records above are the fix's test


def test_values_fixed_chosen_and_ranged(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text(
        'seq_len = 64\n[[step]]\nkind = "lowrank"\nenergy = {low = 0.5, high = 0.99, log = true}\n'
        "embedding_rank = {low = 32, high = 256, step = 32}\nmultiple_of = 8\n"
        '[export]\nquantization = ["int8-dynamic", "fp32"]\nseq_lens = [[64], [32, 64]]\n'
    )
    space = load_space(f)
    step = space.steps[0]
    assert step.fixed == {"multiple_of": 8}
    assert step.params["energy"].log and not step.params["energy"].integer
    assert step.params["embedding_rank"].integer
    seen = set()
    for _, recipe, export in draws(space, 25):
        (lowrank,) = recipe.steps
        assert 0.5 <= lowrank.energy <= 0.99 and lowrank.embedding_rank % 32 == 0
        assert export["seq_lens"] in ([64], [32, 64])
        seen.add(tuple(export["seq_lens"]))
    assert seen == {(64,), (32, 64)}


@pytest.mark.parametrize(
    "text, message",
    [
        ('[[step]]\nkind = "prune"\nhedas = 0.5\n', "unknown field hedas; valid fields: optional, calibration_size"),
        ('[[step]]\nkind = "prune"\nheads = {low = 0.9, high = 0.1}\n', "low <= high"),
        ('[[step]]\nkind = "prune"\nheads = [0.1, 1.5]\n', "heads"),  # a corner the technique refuses
        ('[[step]]\nkind = "prune"\n[export]\nseq_lens = [32, 64]\n', "seq_len"),
        ('[[step]]\nkind = "prune"\n[export]\nbits = 4\n', "unknown field bits; valid fields: quantization, seq_lens"),
        (  # 4-bit embeddings among the choices, and an export that cannot take them
            '[[step]]\nkind = "mixed_precision"\nsize_budget = 1.0\nembedding_bits = [4, 8]\n'
            '[export]\nquantization = "int8-static"\n',
            "step 1: mixed_precision can leave weights below 8 bits (embedding_bits 4, size_budget 1.0), and those "
            "export with quantization int8-dynamic only, which [export] does not offer (int8-static)",
        ),
        (  # the step's default size budget puts some linears at 4 bits
            '[[step]]\nkind = "mixed_precision"\n[export]\nquantization = ["int8-static", "fp32"]\n',
            "size_budget 0.75",
        ),
    ],
)
def test_bad_spaces_are_named(tmp_path, text, message):
    f = tmp_path / "s.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_space(f)


def trial(n, mb, ms, acc, state="complete"):
    return {"number": n, "state": state, "size_bytes": mb * 1e6, "latency_ms": ms, "accuracy": acc}


def test_front_pick_and_closest():
    trials = [
        trial(0, 10, 5.0, 0.90),
        trial(1, 6, 4.0, 0.88),  # front
        trial(2, 6, 4.0, 0.87),  # dominated by 1
        trial(3, 4, 6.0, 0.86),  # front: smallest
        trial(4, 12, 3.0, 0.89),  # front: fastest
        {"number": 5, "state": "failed"},
    ]
    objectives = ["size", "latency", "accuracy"]
    assert [t["number"] for t in pareto_front(trials, objectives)] == [0, 1, 3, 4]
    assert [t["number"] for t in pareto_front(trials, ["size", "accuracy"])] == [0, 1, 3]
    chosen, _ = pick(trials, Budget(max_size_mb=6, max_latency_ms=4.5))
    assert chosen["number"] == 1
    base = Budget(max_size_mb=10, max_accuracy_drop=0.005, base_accuracy=0.90)
    assert pick(trials, base)[0]["number"] == 0
    none, closest = pick(trials, Budget(max_size_mb=5, max_latency_ms=4.0))
    # 3 is 0 MB over and 2 ms (50%) over; 1 is 1 MB (20%) over and on time: 1 is closest
    assert none is None and closest["number"] == 1
    assert Budget(max_size_mb=5, max_latency_ms=4.0).describe() == "size <= 5 MB, latency <= 4 ms"


def test_the_pick_takes_the_smallest_of_the_trials_within_one_standard_error_of_the_best():
    # The MiniLM run's front: one validation sentence in 1,000 between trials 3 and 4.
    trials = [trial(3, 7.36, 3.58, 0.937), trial(4, 4.88, 2.50, 0.936), trial(7, 3.9, 2.2, 0.925)]
    budget = Budget(max_size_mb=10.2, max_latency_ms=3.7)
    assert pick(trials, budget)[0]["number"] == 3  # without the split's size, only equal accuracies tie
    assert pick(trials, budget, examples=1000)[0]["number"] == 4  # 0.937 +- 0.0077: 0.936 ties, 0.925 does not
    assert pick(trials, budget, examples=100_000)[0]["number"] == 3  # +- 0.0008: 0.936 is worse
    assert pick(trials, Budget(max_size_mb=4.5), examples=1000)[0]["number"] == 7  # the only one that fits


def test_param_choices_of_lists_round_trip():
    p = Param("export.seq_lens", choices=[[128], [64, 128]])
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    values = {tuple(p.suggest(study.ask())) for _ in range(12)}
    assert values == {(128,), (64, 128)}


def test_a_search_pinned_to_one_core_builds_with_one_thread():
    assert usable_cpus() == len(os.sched_getaffinity(0))
    pinned = "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
    pinned += "from ondevice.search.driver import usable_cpus; print(usable_cpus(), os.cpu_count())"
    out = subprocess.run([sys.executable, "-c", pinned], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "1"  # as `taskset -c 0 ondevice search ... --finish` runs it, whatever the machine has


def test_a_resumed_study_draws_on_instead_of_replaying_its_first_draws(tmp_path):
    from ondevice.search.driver import SearchSettings, _study

    space = load_space()
    settings = SearchSettings(model="m", data=tmp_path / "d.tsv", target="host", out=tmp_path)
    first = _study(settings, Budget(None, None, None, 0.9))
    drawn = []
    for _ in range(2):  # a run that finished two trials, then stopped
        trial = first.ask()
        space.draw(trial, "t")
        first.tell(trial, [1.0, 1.0, -0.9])
        drawn.append(trial.params)
    resumed = _study(settings, Budget(None, None, None, 0.9))  # the same journal, opened again
    trial = resumed.ask()
    space.draw(trial, "t")
    assert trial.number == 2 and trial.params not in drawn  # the replay drew trial 0's recipe again


def _failing_search(tmp_path, seed: int, tell_failed_as_fail: bool) -> tuple[int, int]:
    """20 draws of the default space by the search's own study, where some configurations always fail
    (as a draw whose 4-bit export fails verification does) and the rest get figures that follow their
    parameters. Returns (failed draws, draws that repeat an earlier failed one)."""
    from ondevice.search.driver import SearchSettings, _fail, _study

    space = load_space()
    out = tmp_path / f"{seed}-{tell_failed_as_fail}"
    out.mkdir()
    s = SearchSettings(model="m", data=out / "d", target="host", out=out, seed=seed)
    budget = Budget(10.0, 5.0, None, 0.9)
    study = _study(s, budget)
    failed: list[str] = []
    repeats = 0
    for i in range(20):
        trial = study.ask()
        recipe, export = space.draw(trial, f"t{i}")
        p = trial.params
        if (p["1.vocab.on"] and p.get("3.lowrank.embedding_rank") == 128) or p["2.prune.neurons"] >= 0.8:
            key = json.dumps(p, sort_keys=True)
            repeats += key in failed
            failed.append(key)
            if tell_failed_as_fail:  # what the search did before: Optuna's samplers learn nothing from it
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                job = TrialJob(i, recipe, export, "", str(out / str(i)), "host", "executorch", 1, 1.0)
                _fail(study, trial, job, "build", RuntimeError("verification failed"), lambda m: None, budget)
                assert json.loads((out / str(i) / "record.json").read_text())["state"] == "failed"
            continue
        size = 22 * (1 - 0.5 * p["2.prune.heads"]) * (1 - 0.6 * p["2.prune.neurons"]) * (0.5 if p["1.vocab.on"] else 1)
        latency = 10 * (1 - 0.5 * p["2.prune.neurons"]) * (1 - 0.15 * p["2.prune.sublayers"])
        trial.set_user_attr("constraints", [size - 10, latency - 5])
        study.tell(trial, [size, latency, 0.9 - 0.05 * p["2.prune.neurons"] - 0.02 * p["2.prune.sublayers"]])
    return len(failed), repeats


def test_a_failed_draw_is_not_drawn_again_and_again(tmp_path):
    """A failed trial is told to the sampler as past every bound: TPE draws elsewhere. Told as FAIL,
    which Optuna's samplers skip, TPE drew the same failing configuration over and over (on MiniLM,
    three trials in a row)."""
    now = [_failing_search(tmp_path, seed, False) for seed in range(4)]
    before = [_failing_search(tmp_path, seed, True) for seed in range(4)]
    assert sum(r for _, r in now) <= 2, now
    assert sum(r for _, r in before) >= 10 * max(1, sum(r for _, r in now)), before  # what the change fixed
    assert sum(f for f, _ in now) < sum(f for f, _ in before)
