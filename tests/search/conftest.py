"""A small classifier worth searching: the tiny random BERT given two labels and trained on 3,000
SST-2 training sentences, twice (at length 32, about a minute), so that its int8 artifacts agree with
PyTorch well beyond the export's 98% bar; and a search space small enough for a test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CLI = Path(sys.executable).with_name("ondevice")

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
        [str(CLI), "finetune", str(tiny_sst2_bert_dir), "--train", str(search_data), "--dev", str(sst2_dev)]
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
