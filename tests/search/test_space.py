"""Search spaces and the Pareto front, without a cluster: what a space file means, what a draw is, and
how the front, the pick and the closest trial are chosen."""

from __future__ import annotations

import optuna
import pytest

from ondevice.compress.recipe import load_recipe
from ondevice.errors import ConfigError
from ondevice.search.front import Budget, pareto_front, pick
from ondevice.search.space import Param, fit_to_model, load_space, to_toml

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
    kinds_seen = set()
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
        assert isinstance(prune.sublayers, int) and 0 <= prune.sublayers <= 2
        assert export["quantization"] in ("int8-dynamic", "int8-static") and export["seq_lens"] == [128]
        kinds_seen.add(tuple(kinds))
    assert len(kinds_seen) == 4  # vocab and lowrank each on and off


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
    ],
)
def test_bad_spaces_are_named(tmp_path, text, message):
    f = tmp_path / "s.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_space(f)


def test_vocab_step_left_out_for_tokenizers_it_cannot_prune(tmp_path):
    space = load_space()
    assert fit_to_model(space, "WordPiece") is None and space.steps[0].kind == "vocab"
    assert "left out" in fit_to_model(space, "BPE")
    assert all(s.kind != "vocab" for s in space.steps)
    f = tmp_path / "s.toml"
    f.write_text('[[step]]\nkind = "vocab"\n[[step]]\nkind = "prune"\nheads = 0.25\n')
    with pytest.raises(ConfigError, match="make the step optional"):
        fit_to_model(load_space(f), "Unigram")


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


def test_param_choices_of_lists_round_trip():
    p = Param("export.seq_lens", choices=[[128], [64, 128]])
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    values = {tuple(p.suggest(study.ask())) for _ in range(12)}
    assert values == {(128,), (64, 128)}
