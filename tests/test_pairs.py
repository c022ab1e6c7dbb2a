"""Sentence pairs end to end: pair data, pair encoding and token types, fine-tuning, eval, export, run.

The pair task is real text: SST-2 sentences, each paired with the next, labelled by whether the two
agree in sentiment (``ondevice.data.consecutive_pairs``).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from ondevice.data import consecutive_pairs, read_dataset


def _write_pairs(src, dst, n):
    data = read_dataset(src)
    data.examples = data.examples[:n]
    pairs = consecutive_pairs(data)
    with open(dst, "w", encoding="utf-8") as f:
        for e in pairs.examples:
            f.write(f"{pairs.labels[e.label]}\t{e.text}\t{e.text_pair}\n")
    return dst


@pytest.fixture(scope="module")
def pair_files(sst2_train, sst2_dev, tmp_path_factory):
    d = tmp_path_factory.mktemp("pairs")
    return _write_pairs(sst2_train, d / "train.tsv", 1500), _write_pairs(sst2_dev, d / "dev.tsv", 200)


def _cli(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "ondevice.cli", *map(str, args)], capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


@pytest.fixture(scope="module")
def tiny_pair_base(minilm_dir, tmp_path_factory):
    """A small random BertForSequenceClassification with two labels and MiniLM's tokenizer."""
    import shutil

    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(3)
    cfg = BertConfig(
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=128,
        id2label={0: "different", 1: "same"},
        label2id={"different": 0, "same": 1},
    )
    out = tmp_path_factory.mktemp("tiny-pair-base")
    BertForSequenceClassification(cfg).save_pretrained(out)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(minilm_dir / name, out / name)
    return out


@pytest.fixture(scope="module")
def pair_model(tiny_pair_base, pair_files, tmp_path_factory):
    """The tiny BERT fine-tuned on SST-2 sentence pairs for one epoch."""
    out = tmp_path_factory.mktemp("pair-model") / "m"
    train, dev = pair_files
    _cli(
        "finetune",
        tiny_pair_base,
        "--train",
        train,
        "--dev",
        dev,
        "--text-columns",
        "2,3",
        "--out",
        out,
        "--epochs",
        "1",
        "--max-length",
        "64",
        "--labels",
        "different,same",
        "--json",
    )
    return out


@pytest.fixture(scope="module")
def pair_bundle(pair_model, pair_files, tmp_path_factory):
    out = tmp_path_factory.mktemp("pair-bundle") / "b"
    _cli(
        "export",
        pair_model,
        "--target",
        "host",
        "--quantize",
        "fp32,int8-dynamic",
        "--seq-len",
        "32,64",
        "--data",
        pair_files[1],
        "--out",
        out,
        "--copy-to",
        out.parent / "assets" / "ondevice",  # where the app's Java core reads it
    )
    return out


def test_pair_data_reads_every_layout(tmp_path):
    (tmp_path / "p.tsv").write_text("same\ta b\tc d\ndifferent\te\tf\n")
    (tmp_path / "named.csv").write_text("id,first,second,label\n1,a b,c d,same\n2,e,f,different\n")
    (tmp_path / "p.jsonl").write_text(
        json.dumps({"text": "a b", "text_pair": "c d", "label": "same"})
        + "\n"
        + json.dumps({"text": "e", "text_pair": "f", "label": "different"})
        + "\n"
    )
    from ondevice.data import parse_columns

    labels = ["different", "same"]  # given: a first row whose label occurs nowhere else would read as a header
    read = [
        read_dataset(tmp_path / "p.tsv", labels, pairs=True),
        read_dataset(tmp_path / "named.csv", labels, columns=parse_columns("2,3", 4)),
        read_dataset(tmp_path / "p.jsonl", labels),
    ]
    for d in read:
        assert d.pairs
        assert d.texts == [("a b", "c d"), ("e", "f")]
        assert [d.labels[y] for y in d.targets] == ["same", "different"]


def test_pair_encoding_equals_transformers(default_ckpt, minilm_dir, sst2_dev):
    """ids, mask and token types of SST-2 pairs at three lengths: longest-first truncation as
    transformers' tokenizer does it (the short length cuts most pairs, one text or both)."""
    import copy

    from transformers import AutoTokenizer

    tok = copy.deepcopy(default_ckpt.tokenizer)
    tok.settings.text_pair = tok.settings.token_type_ids = True
    pairs = consecutive_pairs(read_dataset(sst2_dev)).texts
    hf = AutoTokenizer.from_pretrained(minilm_dir)
    first, second = [a for a, _ in pairs], [b for _, b in pairs]
    cut = 0
    for n in (16, 48, 128):
        ids, mask, types = tok(pairs, max_length=n)
        ref = hf(first, second, truncation="longest_first", max_length=n, padding="max_length", return_tensors="np")
        np.testing.assert_array_equal(ids, ref["input_ids"])
        np.testing.assert_array_equal(mask, ref["attention_mask"])
        np.testing.assert_array_equal(types, ref["token_type_ids"])
        cut += sum(n_tokens > n for n_tokens in tok.lengths(pairs))
    assert cut > 500  # truncation was exercised, not only padding


@pytest.mark.parametrize("batch", [1, 4])
def test_token_types_match_transformers(tiny_pair_base, sst2_dev, batch):
    """Our encoder with token types against BertForSequenceClassification on padded pair batches."""
    from transformers import BertForSequenceClassification

    from ondevice.model import load_model

    ckpt = load_model(str(tiny_pair_base))
    ckpt.tokenizer.settings.text_pair = ckpt.tokenizer.settings.token_type_ids = True
    ref = BertForSequenceClassification.from_pretrained(tiny_pair_base).eval()
    pairs = consecutive_pairs(read_dataset(sst2_dev)).texts[:8]
    for i in range(0, len(pairs), batch):
        ids, mask, types = (torch.from_numpy(a) for a in ckpt.tokenizer(pairs[i : i + batch], 48, pad_to="longest"))
        with torch.no_grad():
            ours = ckpt.model.eval()(ids, mask, types)
            theirs = ref(input_ids=ids, attention_mask=mask, token_type_ids=types).logits
        assert (ours - theirs).abs().max().item() <= 1e-4
        assert types.any()  # the second segment is there, and changes the logits
        with torch.no_grad():
            assert (ckpt.model(ids, mask) - ours).abs().max().item() > 1e-4


def test_finetune_records_a_pair_model(pair_model):
    settings = json.loads((pair_model / "tokenizer_settings.json").read_text())
    assert settings["text_pair"] is True and settings["token_type_ids"] is True
    record = json.loads((pair_model / "info.json").read_text())["finetune"]
    assert "--text-columns 2,3" in record["command"] and record["steps"] > 0


def test_eval_reads_pairs_and_refuses_single_texts(pair_model, pair_files, sst2_dev):
    report = json.loads(_cli("eval", pair_model, "--data", pair_files[1], "--json").stdout)
    assert report["n"] == 200 and report["labels"] == ["different", "same"]
    assert 0.0 <= report["accuracy"] <= 1.0
    single = _cli("eval", pair_model, "--data", sst2_dev, check=False)
    assert single.returncode == 1
    assert "expected three columns (label, text, text_pair), found 2" in single.stderr
    assert "the model classifies sentence pairs" in single.stderr
    assert "Traceback" not in single.stderr


def test_export_takes_token_types_and_verifies_every_artifact(pair_bundle):
    manifest = json.loads((pair_bundle / "ondevice.json").read_text())
    assert manifest["tokenizer"]["text_pair"] is True
    assert len(manifest["artifacts"]) == 6
    for a in manifest["artifacts"]:
        assert [x["name"] for x in a["inputs"]] == ["input_ids", "attention_mask", "token_type_ids"]
        assert a["verification"]["passed"]
        if a["quantization"] == "fp32":
            assert a["verification"]["max_abs_logit_diff"] <= 1e-3


def test_run_pairs_equals_the_classifier_and_the_model(pair_bundle, pair_model, pair_files):
    from ondevice import Classifier
    from ondevice.model import load_model

    pairs = read_dataset(pair_files[1], pairs=True).texts[:6]
    args = [p[0] for p in pairs] + [x for p in pairs for x in ("--pair", p[1])]
    out = json.loads(_cli("run", pair_bundle, "--format", "onnx", "--quantize", "fp32", *args, "--json").stdout)
    ckpt = load_model(str(pair_model))
    with Classifier(pair_bundle, "onnx", "fp32") as clf:
        assert clf.text_pair
        predictions = clf.classify(pairs)
        for (a, b), p, r in zip(pairs, predictions, out["results"], strict=True):
            assert (r["text"], r["text_pair"], r["label"], r["tokens"], r["seq_len"]) == (
                a,
                b,
                p.label,
                p.tokens,
                p.seq_len,
            )
            inputs = clf.encode([(a, b)], p.seq_len)
            assert len(inputs) == 3 and inputs[2].any()
            with torch.no_grad():
                ref = ckpt.model.eval()(*(torch.from_numpy(x.astype(np.int64)) for x in inputs)).numpy()[0]
            probs = np.exp(ref - ref.max()) / np.exp(ref - ref.max()).sum()
            assert np.abs(probs - np.array([p.scores[k] for k in clf.labels])).max() < 1e-4
    with Classifier(pair_bundle, "onnx", "fp32") as clf:
        with pytest.raises(Exception, match="classifies sentence pairs; give"):
            clf.classify(["one text"])
    missing = _cli("run", pair_bundle, "one text", check=False)
    assert missing.returncode == 2 and "give the second text of each with --pair" in missing.stderr


def test_the_app_core_classifies_pairs_as_python(pair_bundle, sst2_dev, tmp_path, junit, java_classification_golden):
    """The app's Java core (Bundle.open, encodePair at the length it picks, token types, Predictions) gives
    Python's inputs, label and scores for every SST-2 dev pair. The JVM runs neither ExecuTorch nor LiteRT:
    the model's part is the logits of the bundle's ONNX artifact, recorded by ondevice.Classifier."""
    pairs = consecutive_pairs(read_dataset(sst2_dev)).texts
    golden = pair_bundle.parent  # holds assets/ondevice, the layout the Java tests read
    records = java_classification_golden(golden / "assets" / "ondevice", pairs, golden)
    assert len(records) == 872 and {r["seq_len"] for r in records} == {32, 64}
    assert all("1" in r["token_type_ids"].split() for r in records)
    assert junit(golden, tmp_path / "build", "ClassifierParityTest") == 1


@pytest.fixture(scope="module")
def tiny_roberta(sst2_train, tmp_path_factory):
    """A small random RobertaForSequenceClassification with a byte-level BPE trained on SST-2 text."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaForSequenceClassification, RobertaTokenizerFast

    texts = [line.split("\t", 1)[1] for line in sst2_train.read_text(encoding="utf-8").splitlines()[1:5000]]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=800, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    tok = RobertaTokenizerFast(
        tokenizer_object=bpe._tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        pad_token="<pad>",
        unk_token="<unk>",
        mask_token="<mask>",
    )
    out = tmp_path_factory.mktemp("tiny-roberta")
    tok.save_pretrained(out)
    torch.manual_seed(4)
    cfg = RobertaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=130,
        type_vocab_size=1,
        pad_token_id=1,
        id2label={0: "different", 1: "same"},
        label2id={"different": 0, "same": 1},
    )
    RobertaForSequenceClassification(cfg).eval().save_pretrained(out)
    return out


def test_roberta_pairs_equal_transformers_and_take_no_token_types(tiny_roberta, sst2_dev, tmp_path):
    """RoBERTa encodes a pair as <s> A </s></s> B </s> with one token type: its logits equal
    transformers' on padded pair batches, and its artifacts take two inputs."""
    from transformers import AutoTokenizer, RobertaForSequenceClassification

    from ondevice.model import load_model

    ckpt = load_model(str(tiny_roberta))
    ckpt.tokenizer.settings.text_pair = True  # what finetune on pairs records; no token-type table
    pairs = consecutive_pairs(read_dataset(sst2_dev)).texts[:8]
    hf_tok = AutoTokenizer.from_pretrained(tiny_roberta)
    ref = RobertaForSequenceClassification.from_pretrained(tiny_roberta).eval()
    for batch in (1, 4):
        for i in range(0, len(pairs), batch):
            chunk = pairs[i : i + batch]
            inputs = ckpt.tokenizer(chunk, 40, pad_to="longest")
            assert len(inputs) == 2
            want = hf_tok(
                [a for a, _ in chunk],
                [b for _, b in chunk],
                truncation="longest_first",
                max_length=40,
                padding="longest",
                return_tensors="pt",
            )
            np.testing.assert_array_equal(inputs[0], want["input_ids"].numpy())
            ids, mask = (torch.from_numpy(a) for a in inputs)
            with torch.no_grad():
                diff = (ckpt.model.eval()(ids, mask) - ref(input_ids=ids, attention_mask=mask).logits).abs().max()
            assert diff.item() <= 1e-4
    ckpt_dir = tmp_path / "pair-roberta"
    from ondevice.model import save_checkpoint

    save_checkpoint(ckpt, ckpt_dir)
    data = tmp_path / "pairs.tsv"
    _write_pairs(sst2_dev, data, 40)
    out = tmp_path / "b"
    _cli(
        "export",
        ckpt_dir,
        "--target",
        "android",
        "--format",
        "executorch,tflite",
        "--quantize",
        "fp32",
        "--seq-len",
        "32",
        "--data",
        data,
        "--out",
        out,
    )
    manifest = json.loads((out / "ondevice.json").read_text())
    assert manifest["tokenizer"]["text_pair"] is True and manifest["tokenizer"]["token_type_ids"] is False
    for a in manifest["artifacts"]:
        assert [x["name"] for x in a["inputs"]] == ["input_ids", "attention_mask"]
        assert a["verification"]["passed"]


def test_significance_and_a_recipe_on_a_pair_model(pair_model, pair_files, tmp_path):
    """Significance scores pairs with their token types, and a recipe (pruning, then distillation on
    pairs) keeps a pair model whose export takes token types."""
    train, dev = pair_files
    ranked = json.loads(_cli("significance", pair_model, "--data", train, "--examples", "64", "--json").stdout)
    assert ranked["examples"] == 64 and ranked["heads"]
    out = tmp_path / "small"
    _cli(
        "compress",
        pair_model,
        "--recipe",
        "conservative",
        "--data",
        train,
        "--dev",
        dev,
        "--out",
        out,
        "--max-minutes",
        "0.2",
        "--json",
    )
    assert json.loads((out / "tokenizer_settings.json").read_text())["token_type_ids"] is True
    bundle = tmp_path / "b"
    _cli(
        "export",
        out,
        "--target",
        "host",
        "--format",
        "onnx",
        "--quantize",
        "fp32",
        "--seq-len",
        "32",
        "--data",
        dev,
        "--out",
        bundle,
    )
    (artifact,) = json.loads((bundle / "ondevice.json").read_text())["artifacts"]
    assert [x["name"] for x in artifact["inputs"]][-1] == "token_type_ids" and artifact["verification"]["passed"]
