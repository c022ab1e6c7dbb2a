"""The headline benchmark's peers: each stock export runs in its runtime at the sentence's own length and
computes what the transformers model computes."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ondevice.model.config import EncoderConfig
from ondevice.model.encoder import Classifier
from ondevice.model.hf import TransformersClassifier

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import stock  # noqa: E402

# fp32 within the export tolerance; int8 is checked for agreement with the float model's direction.
FP32_TOL = 1e-3


@pytest.fixture(scope="module")
def reference():
    torch.manual_seed(0)
    config = EncoderConfig(
        vocab_size=1200, hidden_size=64, num_layers=2, num_heads=4, intermediate_size=128, num_labels=2,
        pooling="mean", head_activation="tanh", architecture="bert",
    )  # fmt: skip
    return TransformersClassifier(Classifier(config).eval()).eval()


@pytest.mark.parametrize("fmt", ["onnx", "executorch", "tflite"])
@pytest.mark.parametrize("quantize", [False, True], ids=["fp32", "int8"])
def test_stock_export_takes_any_length(fmt, quantize, reference, tmp_path):
    ext = {"onnx": ".onnx", "executorch": ".pte", "tflite": ".tflite"}[fmt]
    path = stock.EXPORTERS[fmt](reference, tmp_path / f"model{ext}", quantize)
    assert path.is_file() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    infer = stock.RUNNERS[fmt](path, 1)
    rng = np.random.default_rng(0)
    for length in (5, 37, 128):  # one artifact, many lengths: no padding to a fixed size
        ids = rng.integers(5, 1200, size=(1, length)).astype(np.int64)
        mask = np.ones_like(ids)
        with torch.no_grad():
            want = reference(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
        got = np.asarray(infer(ids, mask))
        assert got.shape == want.shape
        if quantize:
            assert np.abs(got - want).max() < 0.1 * max(1.0, np.abs(want).max())
        else:
            assert np.abs(got - want).max() < FP32_TOL


def test_profile_runs_a_stock_tflite_at_the_asked_length(tmp_path):
    """Stock LiteRT artifacts have positional inputs (args_0, args_1) and one signature per length under
    names of their own; `ondevice profile --seq-len` finds the right one and computes its logits."""
    import json

    from click.testing import CliRunner

    from ondevice.cli import cli
    from ondevice.profile.profiler import DEFAULT_IDS

    torch.manual_seed(0)
    config = EncoderConfig(
        vocab_size=30522, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, num_labels=2,
        architecture="bert",
    )  # fmt: skip
    model = TransformersClassifier(Classifier(config).eval()).eval()
    path = stock.EXPORTERS["tflite"](model, tmp_path / "stock.tflite", False)
    r = CliRunner().invoke(
        cli,
        ["profile", str(path), "--target", "host", "--seq-len", "64", "--runs", "2", "--warmup", "0"]
        + ["--out", str(tmp_path / "records"), "--json"],
    )
    assert r.exit_code == 0, r.output
    (rec,) = json.loads(r.stdout)["records"]
    assert rec["settings"]["seq_len"] == 64 and rec["settings"]["method"] == "seq64"
    ids = np.zeros((1, 64), dtype=np.int64)
    ids[0, : len(DEFAULT_IDS)] = DEFAULT_IDS
    with torch.no_grad():
        expected = model(torch.from_numpy(ids), torch.from_numpy((ids > 0).astype(np.int64))).numpy()[0]
    assert np.abs(np.array(rec["outputs"]["logits"]) - expected).max() <= FP32_TOL
