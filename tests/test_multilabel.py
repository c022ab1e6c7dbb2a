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
