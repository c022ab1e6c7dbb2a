"""Honest model selection: fine-tuning and distillation keep weights chosen on a split carved from the
training data (or the last ones), and the dev data, only reported, cannot change what they keep."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from ondevice.cli import cli
from ondevice.compress import config_from_dict
from ondevice.data import Dataset, Example, read_dataset, text_groups
from ondevice.errors import ConfigError, DataError
from ondevice.train import (
    DistillConfig,
    FinetuneConfig,
    _train_loop,
    carve_selection,
    distill,
    finetune,
    task_loss,
    teacher_logits,
    training_report,
)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """(train, dev) files of a toy task with the tiny model's labels: 'bad', 'so-so' or 'good' decides."""
    rng = np.random.default_rng(0)
    filler = "the a movie film plot story actors scene some very quite".split()

    def rows(n):
        out = []
        for _ in range(n):
            y = int(rng.integers(3))
            words = [*rng.choice(filler, 4), ["bad", "so-so", "good"][y]]
            rng.shuffle(words)
            out.append(f"{['neg', 'neu', 'pos'][y]}\t{' '.join(words)}\n")
        return "".join(out)

    d = tmp_path_factory.mktemp("toy")
    (d / "train.tsv").write_text(rows(120))
    (d / "dev.tsv").write_text(rows(40))
    return d / "train.tsv", d / "dev.tsv"


def _data(toy):
    labels = ["neg", "neu", "pos"]
    return read_dataset(toy[0], labels), read_dataset(toy[1], labels)


def _flipped(dev: Dataset) -> Dataset:
    """The dev data with every label moved on by one: any selection that read it would choose otherwise."""
    return Dataset([Example(e.text, (e.label + 1) % 3, e.line) for e in dev.examples], dev.labels, dev.path)


def _weights(ckpt) -> dict:
    return {k: v.clone() for k, v in ckpt.model.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _steps(history: list[dict]) -> list[dict]:
    """A run's history less its clock readings."""
    return [{k: v for k, v in h.items() if k != "seconds"} for h in history]


CFG = dict(epochs=2, batch_size=16, lr=3e-3, max_length=16, evals_per_epoch=3, freeze_embeddings=False)


def test_the_split_is_seeded_disjoint_and_bounded(toy):
    train, _ = _data(toy)
    kept, held = carve_selection(train, FinetuneConfig())
    assert len(held) == 12 and len(kept) == 108  # 10% of 120
    assert set(kept).isdisjoint(held) and sorted({*kept, *held}) == list(range(120))
    assert list(held) == list(carve_selection(train, FinetuneConfig())[1])  # the seed decides it
    assert list(held) != list(carve_selection(train, FinetuneConfig(seed=1))[1])
    assert len(carve_selection(train, FinetuneConfig(select_share=0.5, select_max=7))[1]) == 7
    kept, held = carve_selection(train, FinetuneConfig(select="last"))
    assert held is None and list(kept) == list(range(120))
    assert len(carve_selection(train, FinetuneConfig(select="last"), thresholds=True)[1]) == 12
    one = Dataset(train.examples[:1], train.labels, "one.tsv")
    with pytest.raises(DataError, match="one.tsv: 1 training example.*at least 2.*--select last"):
        carve_selection(one, FinetuneConfig())
    for bad, field in ((dict(select="best"), "select"), (dict(select_share=1.0), "select_share")):
        with pytest.raises(ConfigError, match=field):
            FinetuneConfig(**bad)
    with pytest.raises(ConfigError, match="select_max"):
        DistillConfig(select_max=0)


def test_a_phrase_goes_with_the_text_it_was_cut_from():
    texts = ["A great film , truly", "great film", "truly", "a  GREAT film", "bad", "an awful mess", "awful", "film ,"]
    group = text_groups(texts)
    assert list(group) == [0, 0, 0, 0, 4, 5, 5, 0]  # case and spacing aside; named by the longest
    assert list(text_groups(["great", "great"])) == [0, 0]  # a repeat shares its text's group
    assert list(text_groups(["gre", "great"])) == [0, 1]  # word for word, not letter for letter


def test_the_split_holds_out_whole_sst2_sentences_and_trains_on_none_of_their_phrases(sst2_train):
    data = read_dataset(sst2_train)
    data = Dataset(data.examples[:6000], data.labels, data.path)
    kept, held = carve_selection(data, FinetuneConfig(select_share=0.1))
    assert set(kept).isdisjoint(held) and len(held) > 300
    texts = [" " + " ".join(e.text.lower().split()) + " " for e in data.examples]

    def covered(kept, held) -> np.ndarray:
        """For each held-out text, the share of its words that its longest training phrase covers."""
        return np.array(
            [
                max([len(texts[k].split()) for k in kept if texts[k] in texts[h]] or [0]) / len(texts[h].split())
                for h in held
            ]
        )

    # What training still shares with a held-out sentence is a phrase of another sentence too, as it is for
    # dev's sentences: never more than half of one. A split of single rows, as before, trains on more.
    grouped = covered(kept, held)
    rows = np.random.default_rng(0).permutation(len(data))
    single = covered(rows[len(held) :], rows[: len(held)])
    assert (grouped > 0.5).sum() == 0 and (single > 0.5).sum() > 10
    assert grouped.mean() < single.mean() / 3
    # The held-out texts are the longest of their groups (whole sentences, as dev has); the seed decides.
    group = text_groups([e.text for e in data.examples])
    assert all(texts[group[h]] == texts[h] for h in held)
    assert list(held) == list(carve_selection(data, FinetuneConfig(select_share=0.1))[1])
    assert len(carve_selection(data, FinetuneConfig(select_share=0.5, select_max=50))[1]) == 50


def test_a_split_of_one_text_and_its_phrases_is_refused(toy):
    train, _ = _data(toy)
    one = Dataset(
        [Example("a fine film", 2, 1), Example("fine film", 2, 2), Example("film", 1, 3)], train.labels, "p.tsv"
    )
    with pytest.raises(DataError, match="p.tsv: every text is inside one other"):
        carve_selection(one, FinetuneConfig())


def test_finetune_keeps_the_same_weights_whatever_the_dev_data_says(tiny_bert_dir, toy):
    from ondevice.model import load_model

    train, dev = _data(toy)
    runs = []
    for d in (dev, _flipped(dev), None):
        ckpt = load_model(str(tiny_bert_dir))
        result = finetune(ckpt, train, d, FinetuneConfig(**CFG))
        runs.append((result, _weights(ckpt)))
    (a, wa), (b, wb), (c, wc) = runs
    assert _same(wa, wb) and _same(wa, wc)
    assert a.best_step == b.best_step == c.best_step and _steps(a.history) == _steps(b.history) == _steps(c.history)
    assert len(a.history) > 2 and all("select_accuracy" in h and "dev_accuracy" not in h for h in a.history)
    assert a.best_select == max(h["select_accuracy"] for h in a.history) and a.select_examples == 12
    # dev is measured once, on the kept weights: flipping every label turns right answers into wrong ones
    assert a.dev_score is not None and b.dev_score is not None and c.dev_score is None
    assert a.dev_score != b.dev_score
    report = training_report(a)
    assert report["dev_accuracy"] == a.dev_score and report["best_select_accuracy"] == a.best_select
    assert report["select"] == "split" and report["select_examples"] == 12


def test_max_steps_trains_exactly_that_many_in_place_of_the_epochs(tiny_bert_dir, toy):
    from ondevice.model import load_model

    train, _ = _data(toy)  # 108 examples trained on: 7 batches of 16 an epoch
    result = finetune(load_model(str(tiny_bert_dir)), train, None, FinetuneConfig(**{**CFG, "max_steps": 10}))
    assert result.steps == 10 and result.history[-1]["step"] == 10
    assert finetune(load_model(str(tiny_bert_dir)), train, None, FinetuneConfig(**CFG)).steps == 14  # 2 epochs
    for bad, message in ((0, "at least 1, got 0"), (1.5, "an integer, got 1.5"), (True, "an integer, got true")):
        with pytest.raises(ConfigError, match=f"max_steps must be {message}"):
            config_from_dict({"kind": "distill", "max_steps": bad})


def test_select_last_keeps_the_final_weights(tiny_bert_dir, toy):
    from ondevice.model import load_model

    train, dev = _data(toy)
    last = load_model(str(tiny_bert_dir))
    result = finetune(last, train, dev, FinetuneConfig(**CFG, select="last"))
    assert result.best_select is None and result.best_step == result.steps and result.select_examples == 0
    assert len(result.history) > 2 and not any("select_accuracy" in h for h in result.history)
    # the same training evaluated only once, at its last step, on a split it does not train on: what
    # that keeps is the final weights, and so must select="last" be with its evaluations along the way
    ref, again = load_model(str(tiny_bert_dir)), load_model(str(tiny_bert_dir))
    targets = torch.tensor(train.targets)
    once = FinetuneConfig(**{**CFG, "evals_per_epoch": 1, "epochs": 1})
    cfg = FinetuneConfig(**{**CFG, "epochs": 1})

    def loss(model, idx, inputs):
        return task_loss(model(*inputs), targets[idx])

    torch.manual_seed(0)  # dropout's
    ref_result = _train_loop(ref, train, dev, once, loss, "ref")
    assert len(ref_result.history) == 1 and ref_result.best_step == ref_result.steps
    torch.manual_seed(0)
    last_result = _train_loop(again, train, None, cfg, loss, "last")
    assert len(last_result.history) == 4 and _same(_weights(ref), _weights(again))


def _student_teacher(tiny_bert_dir):
    from ondevice.model import load_model

    teacher = load_model(str(tiny_bert_dir))
    teacher.model.eval()
    student = copy.deepcopy(teacher)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # the same student each time, one that differs from its teacher
        for p in student.model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return student, teacher


def test_distill_selects_without_dev_and_takes_precomputed_teacher_logits(tiny_bert_dir, toy):
    train, dev = _data(toy)
    cfg = DistillConfig(epochs=1, batch_size=16, max_length=16, evals_per_epoch=3)
    s1, teacher = _student_teacher(tiny_bert_dir)
    s2, s3, s4 = copy.deepcopy(s1), copy.deepcopy(s1), copy.deepcopy(s1)
    r1 = distill(s1, teacher, train, dev, cfg)
    logits = teacher_logits(teacher, train, cfg.max_length)
    assert logits.shape == (120, 3)
    r2 = distill(s2, teacher, train, _flipped(dev), cfg, teacher_logits=logits)
    assert (
        _same(_weights(s1), _weights(s2)) and _steps(r1.history) == _steps(r2.history) and r1.best_step == r2.best_step
    )
    assert r1.select_examples == 12 and r1.dev_score != r2.dev_score
    r3 = distill(s3, teacher, train, None, DistillConfig(**{**cfg.__dict__, "select": "last"}), teacher_logits=logits)
    assert r3.best_step == r3.steps and r3.best_select is None and r3.dev_score is None
    for bad in (logits[:-1], logits[:, :2], logits[None]):
        with pytest.raises(ConfigError, match=r"teacher logits of shape .*\(120, 3\)"):
            distill(s4, teacher, train, dev, cfg, teacher_logits=bad)


def test_distill_given_a_split_selects_there_and_trains_on_all_of_train(tiny_bert_dir, toy):
    """A search's distillations select on the texts the teacher's fine-tuning held out: none of the
    training data is carved off, and the split given is what chooses the kept weights."""
    from ondevice.evaluate import predict_logits
    from ondevice.train import selection_score

    train, held = _data(toy)
    cfg = DistillConfig(epochs=1, batch_size=16, max_length=16, evals_per_epoch=3)
    s1, teacher = _student_teacher(tiny_bert_dir)
    s2, s3 = copy.deepcopy(s1), copy.deepcopy(s1)
    r1 = distill(s1, teacher, train, None, cfg, select=held)
    assert r1.steps == 8  # all 120 training examples, 8 batches of 16; carving would have left 108 (7 batches)
    assert r1.select_examples == 40 and r1.select_sha256 == held.digest()
    assert r1.best_select == max(h["select_accuracy"] for h in r1.history)
    assert selection_score(predict_logits(s1, held.texts, max_length=16), held) == r1.best_select
    r2 = distill(s2, teacher, train, None, cfg, select=_flipped(held))
    assert [h["train_loss"] for h in r1.history] == [h["train_loss"] for h in r2.history]  # the same training
    assert [h["select_accuracy"] for h in r1.history] != [h["select_accuracy"] for h in r2.history]
    r3 = distill(s3, teacher, train, None, DistillConfig(**{**cfg.__dict__, "select": "last"}), select=held)
    assert r3.best_step == r3.steps == 8 and r3.best_select is None and r3.select_examples == 0
    other = Dataset(held.examples, ["a", "b", "c"], held.path)
    with pytest.raises(ConfigError, match="other labels"):
        distill(copy.deepcopy(teacher), teacher, train, None, cfg, select=other)


def test_a_recipe_shares_teacher_logits_and_finetune_select_last_from_the_cli(tiny_bert_dir, toy, tmp_path):
    from ondevice.compress import config_from_dict
    from ondevice.compress.recipe import Recipe, run_recipe

    train, dev = _data(toy)
    step = config_from_dict({"kind": "distill", "epochs": 0.5, "batch_size": 16, "max_length": 16, "select": "last"})
    records = []
    for shared in (False, True):
        student = _student_teacher(tiny_bert_dir)[0]  # a recipe's teacher is its input model
        given = teacher_logits(student, train, 16) if shared else None
        records.append(run_recipe(student, Recipe("r", [step], seq_len=16), train, dev, teacher_logits=given))
    (a, b) = (r[-1]["report"] for r in records)
    assert a["select"] == "last" and a["best_select_accuracy"] is None and a["best_step"] == a["steps"]
    assert _steps(a["history"]) == _steps(b["history"])
    assert records[0][-1]["dev_accuracy"] == records[1][-1]["dev_accuracy"] == a["dev_accuracy"]
    # a split to select on, given to the recipe, reaches its distillation step (a search gives its
    # validation split as both the split and the data measured after every step, as here)
    split_step = config_from_dict({"kind": "distill", "epochs": 0.5, "batch_size": 16, "max_length": 16})
    student = _student_teacher(tiny_bert_dir)[0]
    given = run_recipe(student, Recipe("r", [split_step], seq_len=16), train, dev, select=dev)[-1]["report"]
    assert given["select_examples"] == 40 and given["best_select_accuracy"] is not None

    out = tmp_path / "last"
    args = ["finetune", str(tiny_bert_dir), "--train", str(toy[0]), "--dev", str(toy[1]), "--out", str(out)]
    r = CliRunner().invoke(cli, [*args, "--select", "last", "--epochs", "0.5", "--max-length", "16", "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["select"] == "last" and summary["best_select_accuracy"] is None and summary["select_examples"] == 0
    # all 120 examples trained on: 4 batches of 32 an epoch, half an epoch
    assert summary["best_step"] == summary["steps"] == 2 and 0 <= summary["dev_accuracy"] <= 1
    assert json.loads((out / "info.json").read_text())["finetune"]["config"]["select"] == "last"


def test_a_digest_names_the_examples_as_read():
    """What a fine-tune records of its held-out split: the same examples give the same digest, however
    they were read; another label, text pair or order gives another."""
    a = Dataset([Example("a film", 0), Example("a mess", 1)], ["negative", "positive"])
    same = Dataset([Example("a film", 1, line=7), Example("a mess", 0, line=9)], ["positive", "negative"])
    assert a.digest() == same.digest()  # lines and label indices aside: the texts and the label names
    relabelled = Dataset(a.examples, ["positive", "negative"])
    paired = Dataset([Example("a film", 0, text_pair="b"), Example("a mess", 1, text_pair="b")], a.labels)
    others = [relabelled, paired, a.take([1, 0]), a.take([0])]
    assert len({a.digest(), *(d.digest() for d in others)}) == 1 + len(others)
    multi = Dataset([Example("a film", (0, 1))], ["negative", "positive"], multi_label=True)
    assert multi.digest() != Dataset([Example("a film", (0,))], multi.labels, multi_label=True).digest()


def test_compress_selects_on_the_texts_the_fine_tuning_held_out(tiny_bert_dir, toy, tmp_path):
    """A distillation from a model fine-tuned on --data selects on the texts that fine-tuning held out (the
    teacher never trained on them), not on a split it carves of texts the teacher learned."""
    train_file, dev_file = toy
    ft = tmp_path / "ft"
    args = ["finetune", str(tiny_bert_dir), "--train", str(train_file), "--dev", str(dev_file), "--out", str(ft)]
    r = CliRunner().invoke(cli, [*args, "--epochs", "0.5", "--max-length", "16", "--select-share", "0.25", "--json"])
    assert r.exit_code == 0, r.output
    held = json.loads(r.stdout)["select_examples"]
    recipe = tmp_path / "r.toml"
    recipe.write_text('name = "r"\nseq_len = 16\n[[step]]\nkind = "distill"\nepochs = 0.5\nbatch_size = 16\n')
    other = tmp_path / "other.tsv"  # the same examples in another file: not the one the record names
    other.write_text(train_file.read_text())
    other.write_text(other.read_text() + other.read_text().splitlines(keepends=True)[0])

    def compress(data, out):
        r = CliRunner().invoke(
            cli,
            ["compress", str(ft), "--recipe", str(recipe), "--data", str(data), "--dev", str(dev_file)]
            + ["--out", str(out), "--json"],
        )
        assert r.exit_code == 0, r.output
        report = json.loads(r.stdout)["steps"][-1]["report"]
        return report, json.loads((out / "info.json").read_text())["compression"]["select_split"], r.stderr

    report, how, err = compress(train_file, tmp_path / "c1")
    # 0.25 of the texts: a distillation's own default carve (0.1) would hold out fewer
    assert report["select_examples"] == held and held > 0.2 * 120
    assert how["from"] == "the input model's fine-tuning" and how["share"] == 0.25
    assert f"on the {held} texts of --data that the input model's fine-tuning held out" in err
    report, how, _ = compress(other, tmp_path / "c2")
    assert how is None and report["select_examples"] < held
