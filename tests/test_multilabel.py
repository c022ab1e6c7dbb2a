"""Multi-label classification end to end: data, fine-tuning, thresholds, eval, export, run, Classifier.

The task is real text: SST-2 sentences, each labelled with the properties it has (``sst2_properties``):
``positive`` (its sentiment), ``long`` (more than 15 words) and ``negation`` (it holds not, no or n't).
A sentence may have none of them, or all three.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from ondevice.data import read_dataset

PROPERTIES = ["long", "negation", "positive"]
NEGATION = re.compile(r"\b(?:not|no)\b|n't")


def sst2_properties(src, dst, n, jsonl=False):
    """The first ``n`` SST-2 sentences of ``src`` with their properties: TSV with ``|``-separated names,
    or JSONL with a list of names."""
    data = read_dataset(src)
    with open(dst, "w", encoding="utf-8") as f:
        for e in data.examples[:n]:
            names = [
                name
                for name, has in zip(
                    PROPERTIES,
                    (len(e.text.split()) > 15, bool(NEGATION.search(e.text)), data.labels[e.label] == "1"),
                    strict=True,
                )
                if has
            ]
            if jsonl:
                f.write(json.dumps({"text": e.text, "label": names}) + "\n")
            else:
                f.write(f"{'|'.join(names)}\t{e.text}\n")
    return dst


@pytest.fixture(scope="module")
def multilabel_files(sst2_train, sst2_dev, tmp_path_factory):
    d = tmp_path_factory.mktemp("multilabel")
    return sst2_properties(sst2_train, d / "train.tsv", 1500), sst2_properties(sst2_dev, d / "dev.jsonl", 200, True)


def _cli(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "ondevice.cli", *map(str, args)], capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def test_multi_label_data_reads_tsv_csv_and_jsonl(tmp_path):
    (tmp_path / "m.tsv").write_text("label\tsentence\npositive|long\ta b\n\tc\nnegation\td\n")
    (tmp_path / "m.csv").write_text('positive|long,a b\n,c\nnegation,"d, e"\n')
    (tmp_path / "m.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in ({"text": "a b", "label": ["positive", 0]}, {"text": "c", "label": []}))
    )
    for name in ("m.tsv", "m.csv"):
        data = read_dataset(tmp_path / name, multi_label=True)
        assert data.multi_label and data.labels == PROPERTIES and data.targets == [(0, 2), (), (1,)]
        assert data.multi_hot().tolist() == [[1, 0, 1], [0, 0, 0], [0, 1, 0]]
    data = read_dataset(tmp_path / "m.jsonl", PROPERTIES, multi_label=True)  # names and indices alike
    assert data.targets == [(0, 2), ()]
    # single-label data reads exactly as before: an int per example
    (tmp_path / "s.tsv").write_text("neg\ta\npos\tb\nneg\tc\n")
    assert read_dataset(tmp_path / "s.tsv").targets == [0, 1, 0]


def test_held_out_split_is_seeded_and_leaves_training_data(tmp_path):
    (tmp_path / "m.tsv").write_text("".join(f"{'a|b' if i % 2 else 'a'}\tt{i}\n" for i in range(1, 42)))
    data = read_dataset(tmp_path / "m.tsv", multi_label=True)
    rest, held = data.split(0.1, seed=0)
    assert len(held) == 4 and len(rest) == 37 and rest.multi_label and held.labels == data.labels
    assert {e.line for e in rest.examples}.isdisjoint(e.line for e in held.examples)
    assert [e.line for e in held.examples] == [e.line for e in data.split(0.1, seed=0)[1].examples]
    assert len(read_dataset(tmp_path / "m.tsv", multi_label=True).split(0.001, 0)[1]) == 1  # at least one


def test_thresholds_are_chosen_per_label_on_held_out_data():
    from ondevice.evaluate import THRESHOLD_GRID, choose_thresholds, micro_f1, multi_label_report

    y = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 0]])
    probs = np.array([[0.3, 0.1, 0.2], [0.8, 0.2, 0.1], [0.2, 0.9, 0.3], [0.1, 0.3, 0.4]])
    # label 0 is found by any threshold in [0.2, 0.3) and no other: of those, the one nearest 0.5;
    # label 1 by any in [0.3, 0.9): 0.5 itself; label 2 never occurs: 0.5
    assert choose_thresholds(y, probs) == [0.25, 0.5, 0.5]
    assert 0.05 == THRESHOLD_GRID[0] and THRESHOLD_GRID[-1] == 0.95
    pred = probs > 0.5
    assert micro_f1(y, pred) == pytest.approx(2 * 2 / (2 + 3))
    r = multi_label_report(y, pred, PROPERTIES, [0.5] * 3)
    assert r["per_label"]["long"] == {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2, "threshold": 0.5}
    assert r["macro_f1"] == pytest.approx((2 / 3 + 1 + 0) / 3) and r["subset_accuracy"] == 0.75


@pytest.fixture(scope="module")
def multilabel_model(tiny_bert_dir, multilabel_files, tmp_path_factory):
    """The tiny BERT (three labels, single-label config) fine-tuned with --multi-label: four short epochs at a high
    learning rate, embeddings included, so that its random weights learn enough (length, at least) for its
    decisions to differ between sentences. Selected on whole held-out sentences, two epochs never beat
    naming every label (micro F1 0.593 at every evaluation), and the first of those ties was kept."""
    out = tmp_path_factory.mktemp("multilabel-model") / "m"
    train, dev = multilabel_files
    _cli(
        "finetune", tiny_bert_dir, "--train", train, "--dev", dev, "--multi-label", "--out", out,
        "--epochs", "4", "--max-length", "64", "--lr", "3e-3", "--train-embeddings",
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def multilabel_bundle(multilabel_model, multilabel_files, tmp_path_factory):
    out = tmp_path_factory.mktemp("multilabel-bundle") / "b"
    _cli(
        "export", multilabel_model, "--target", "host", "--quantize", "fp32,int8-dynamic", "--seq-len", "32,64",
        "--data", multilabel_files[1], "--out", out,
        "--copy-to", out.parent / "assets" / "ondevice",  # where the app's Java core reads it
    )  # fmt: skip
    return out


def test_finetune_chooses_thresholds_on_held_out_training_data(multilabel_model):
    from ondevice.evaluate import THRESHOLD_GRID
    from ondevice.model import load_model

    ckpt = load_model(str(multilabel_model))
    assert ckpt.config.multi_label and ckpt.labels == PROPERTIES
    assert len(ckpt.config.thresholds) == 3 and set(ckpt.config.thresholds) <= set(THRESHOLD_GRID.tolist())
    assert json.loads((multilabel_model / "labels.json").read_text()) == PROPERTIES  # still a list of names
    record = json.loads((multilabel_model / "info.json").read_text())["finetune"]
    # 10% of the 1,358 groups of texts (SST-2's phrases go with the sentences they were cut from)
    assert record["select_examples"] == 136 and record["thresholds"] == ckpt.config.thresholds
    assert 0 <= record["best_select_micro_f1"] <= 1 and all("select_micro_f1" in h for h in record["history"])
    assert 0 <= record["dev_micro_f1"] <= 1 and not any("dev_micro_f1" in h for h in record["history"])


def test_eval_reports_micro_macro_and_per_label_figures(multilabel_model, multilabel_files):
    from sklearn.metrics import f1_score, precision_recall_fscore_support

    from ondevice.evaluate import predict_logits
    from ondevice.model import load_model
    from ondevice.scores import decisions

    report = json.loads(_cli("eval", multilabel_model, "--data", multilabel_files[1], "--json").stdout)
    assert report["problem_type"] == "multi_label_classification" and report["n"] == 200
    # the same figures, independently: scikit-learn on the PyTorch model's decisions at the recorded thresholds
    ckpt = load_model(str(multilabel_model))
    dev = read_dataset(multilabel_files[1], ckpt.labels, multi_label=True)
    y, pred = dev.multi_hot(), decisions(predict_logits(ckpt, dev.texts), ckpt.config.thresholds)
    assert report["micro_f1"] == pytest.approx(f1_score(y, pred, average="micro", zero_division=0))
    assert report["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro", zero_division=0))
    assert report["subset_accuracy"] == pytest.approx((y.astype(bool) == pred).all(1).mean())
    p, r, f, support = precision_recall_fscore_support(y, pred, zero_division=0)
    for k, name in enumerate(PROPERTIES):
        m = report["per_label"][name]
        assert (m["precision"], m["recall"], m["f1"]) == pytest.approx((p[k], r[k], f[k]))
        assert m["support"] == support[k] > 0 and m["threshold"] == ckpt.config.thresholds[k]
    text = _cli("eval", multilabel_model, "--data", multilabel_files[1]).stdout
    assert "micro F1" in text and "macro F1" in text and "subset accuracy" in text and "threshold" in text
    single = _cli("eval", multilabel_model, "--data", multilabel_files[0], "--json")  # '|' TSV, read as multi-label
    assert json.loads(single.stdout)["n"] == 1500


def test_export_verifies_per_label_decisions(multilabel_bundle, multilabel_model):
    from ondevice.model import load_model

    manifest = json.loads((multilabel_bundle / "ondevice.json").read_text())
    assert manifest["problem_type"] == "multi_label_classification"
    assert manifest["thresholds"] == load_model(str(multilabel_model)).config.thresholds
    assert json.loads((multilabel_bundle / "labels.json").read_text()) == PROPERTIES
    assert {(a["format"], a["quantization"]) for a in manifest["artifacts"]} == {
        (f, q) for f in ("executorch", "tflite", "onnx") for q in ("fp32", "int8-dynamic")
    }
    for a in manifest["artifacts"]:
        v = a["verification"]
        assert v["passed"] and v["sentences"] == 200 and v["accuracy"] is not None
        if a["quantization"] == "fp32":
            assert v["max_abs_logit_diff"] <= 1e-3 and v["label_agreement"] >= 0.99
        else:
            assert v["label_agreement"] >= 0.98


def test_classifier_and_run_give_the_labels_above_their_thresholds(multilabel_bundle, multilabel_model, sst2_dev):
    import torch

    from ondevice import Classifier
    from ondevice.model import load_model

    texts = read_dataset(sst2_dev).texts
    ckpt = load_model(str(multilabel_model))
    thresholds = np.array(ckpt.config.thresholds)
    for fmt in ("executorch", "tflite", "onnx"):
        with Classifier(multilabel_bundle, fmt, "fp32") as clf:
            assert clf.multi_label and clf.thresholds == list(thresholds)
            predictions = clf.classify(texts)
            agree = []
            for p in predictions:
                inputs = clf.encode([p.text], p.seq_len)
                with torch.no_grad():
                    ref = ckpt.model.eval()(*(torch.from_numpy(x.astype(np.int64)) for x in inputs)).numpy()[0]
                probs = 1 / (1 + np.exp(-ref.astype(np.float64)))
                scores = np.array([p.scores[k] for k in PROPERTIES])
                assert np.abs(scores - probs).max() < 1e-4  # sigmoid, not softmax: they need not sum to 1
                assert p.labels == tuple(
                    name for name, s, t in zip(PROPERTIES, scores, thresholds, strict=True) if s > t
                )
                assert p.label == PROPERTIES[int(scores.argmax())]
                agree.append(
                    p.labels == tuple(n for n, s, t in zip(PROPERTIES, probs, thresholds, strict=True) if s > t)
                )
            assert np.mean(agree) >= 0.99  # a probability within 1e-4 of its threshold may fall either side
    assert len({p.labels for p in predictions}) > 1  # the decisions differ between sentences
    out = json.loads(_cli("run", multilabel_bundle, "--format", "onnx", *texts[:5], "--json").stdout)
    with Classifier(multilabel_bundle, "onnx") as clf:
        for r, p in zip(out["results"], clf.classify(texts[:5]), strict=True):
            assert r["labels"] == list(p.labels) and r["label"] == p.label and r["probabilities"] == p.scores
    shown = _cli("run", multilabel_bundle, "--format", "onnx", texts[0]).stdout.split()[0]
    assert shown == (",".join(out["results"][0]["labels"]) or "(none)")


def test_a_hugging_face_multi_label_checkpoint_is_read_as_one(tiny_bert_dir, multilabel_files, tmp_path):
    """problem_type from config.json: its data reads as multi-label without --multi-label."""
    import shutil

    from ondevice.model import load_model
    from ondevice.train import prepare_finetune

    d = shutil.copytree(tiny_bert_dir, tmp_path / "hf")
    cfg = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**cfg, "problem_type": "multi_label_classification"}))
    assert load_model(str(d)).config.multi_label
    ckpt, train, dev = prepare_finetune(str(d), *multilabel_files, tmp_path / "out")
    assert ckpt.config.multi_label and train.multi_label and dev.multi_label and ckpt.labels == PROPERTIES
    (d / "config.json").write_text(json.dumps({**cfg, "problem_type": "regression"}))
    refused = _cli("eval", d, "--data", multilabel_files[1], check=False)
    assert refused.returncode == 1 and "problem_type" in refused.stderr and "regression" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_the_app_core_classifies_multi_label_as_python(
    multilabel_bundle, sst2_dev, tmp_path, junit, java_classification_golden
):
    """The app's Java core (Bundle.open, encode, Predictions with the manifest's thresholds) gives Python's sigmoid
    scores, top label and the labels above their thresholds for every SST-2 dev sentence; its manifest reader
    applies Python's rules to problem_type and thresholds. The model's part is the ONNX artifact's logits, recorded
    by ondevice.Classifier (the JVM runs neither ExecuTorch nor LiteRT)."""
    texts = read_dataset(sst2_dev).texts
    golden = multilabel_bundle.parent  # holds assets/ondevice, the layout the Java tests read
    records = java_classification_golden(golden / "assets" / "ondevice", texts, golden)
    assert len(records) == 872 and all("labels" in r for r in records)
    assert len({tuple(r["labels"]) for r in records}) > 1
    assert junit(golden, tmp_path / "build", "ClassifierParityTest", "MultiLabelTest") == 3


def test_a_recipe_compresses_a_multi_label_model(multilabel_model, multilabel_files, tmp_path):
    """Pruning scores heads by binary cross-entropy and distillation learns the teacher's sigmoids; the thresholds
    chosen at fine-tuning stay with the compressed model."""
    from click.testing import CliRunner

    from ondevice.cli import cli
    from ondevice.model import load_model

    recipe = tmp_path / "tiny.toml"
    recipe.write_text(
        'name = "tiny"\nseq_len = 32\n\n[[step]]\nkind = "prune"\nheads = 0.25\nneurons = 0.5\nmultiple_of = 8\n'
        'calibration_size = 48\n\n[[step]]\nkind = "distill"\nepochs = 1.0\nbatch_size = 16\nevals_per_epoch = 1\n'
    )
    train = tmp_path / "train.tsv"
    train.write_text("".join(multilabel_files[0].read_text().splitlines(keepends=True)[:200]))
    out = tmp_path / "ck"
    args = ["compress", str(multilabel_model), "--recipe", str(recipe), "--data", str(train)]
    r = CliRunner().invoke(cli, [*args, "--dev", str(multilabel_files[1]), "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    steps = json.loads(r.stdout)["steps"]
    assert [s["kind"] for s in steps] == ["input", "prune", "distill"]
    report = steps[-1]["report"]
    assert 0 <= report["best_select_micro_f1"] <= 1 and report["select_examples"] == 20  # 10% of 196 groups
    assert 0 <= report["dev_micro_f1"] <= 1
    before, after = load_model(str(multilabel_model)), load_model(str(out))
    assert after.config.multi_label and after.config.thresholds == before.config.thresholds
    assert after.config.num_parameters() < before.config.num_parameters()


def test_head_only_training_is_multi_label_too(tiny_bert_dir, multilabel_files, tmp_path):
    from ondevice.train import FinetuneConfig, finetune, prepare_finetune

    ckpt, train, dev = prepare_finetune(str(tiny_bert_dir), *multilabel_files, tmp_path / "out", multi_label=True)
    result = finetune(ckpt, train, dev, FinetuneConfig(epochs=1, head_only=True, max_length=64))
    assert result.metric == "micro_f1" and all("select_micro_f1" in h for h in result.history)
    assert result.select_examples == 136 and ckpt.config.thresholds == result.thresholds and len(result.thresholds) == 3
