"""The benchmarks that time a bundle's artifacts through `ondevice.Classifier`, run for real on a tiny bundle."""

import json
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SST2_SAMPLE = BENCHMARKS.parent / "ondevice" / "assets" / "sst2_dev_sample.tsv"
sys.path.insert(0, str(BENCHMARKS))
import headline  # noqa: E402


@pytest.fixture(scope="module")
def bundle(tiny_bert_dir, tmp_path_factory) -> Path:
    """The tiny BERT as fp32 .pte and .onnx at 16 tokens, verified."""
    from ondevice.data import read_dataset
    from ondevice.export import ExportRequest, export_bundle
    from ondevice.model import load_model

    ckpt = load_model(str(tiny_bert_dir))
    out = tmp_path_factory.mktemp("bench") / "bundle"
    req = ExportRequest(target="host", formats=["executorch", "onnx"], quantizations=["fp32"], seq_lens=[16])
    export_bundle(ckpt, out, req, read_dataset(SST2_SAMPLE, ckpt.labels))
    return out


def _script(name: str, *args: str) -> None:
    subprocess.run([sys.executable, str(BENCHMARKS / name), *args], check=True, capture_output=True)


def test_bundle_latency_times_every_artifact(bundle, tmp_path):
    out = tmp_path / "latency.json"
    _script("bundle_latency.py", str(bundle), "--out", str(out), "--warmup", "1", "--runs", "3")
    result = json.loads(out.read_text())
    assert [r["file"] for r in result["artifacts"]] == ["model.fp32.pte", "model.fp32.onnx"]
    for r in result["artifacts"]:
        assert len(r["samples_ms"]) == 3 and 0 < r["p50_ms"] <= r["p90_ms"]


def test_compression_goal_times_eager_against_the_pte(bundle, tiny_bert_dir, tmp_path):
    out = tmp_path / "goal.json"
    _script(
        "compression_goal.py", "--base", str(tiny_bert_dir), "--fp32-bundle", str(bundle), "--bundle", str(bundle),
        "--quantize", "fp32", "--out", str(out), "--warmup", "1", "--runs", "3",
    )  # fmt: skip
    rows = json.loads(out.read_text())["runs_by_artifact"]
    assert [r["name"] for r in rows] == ["pytorch eager fp32", "fp32 .pte", str(bundle)]
    assert all(len(r["samples_ms"]) == 3 for r in rows)
    assert rows[1]["size_ratio_vs_fp32_pte"] == 1.0
    goals = rows[1]["goals"]  # the same file as the reference: no size goal met
    assert not goals["size_at_most_1_8"] and not goals["size_at_most_1_16"]
    assert goals["latency_at_most_1_6"] == (rows[1]["speedup_vs_eager"] >= 6.0)


def test_headline_runs_an_ondevice_artifact_on_the_peers_token_ids(bundle):
    entry = headline.Entry(
        "ondevice base fp32 .pte", "ondevice", "executorch", "fp32", bundle / "model.fp32.pte", None, dynamic=False,
        seq_lens=[16],
    )  # fmt: skip
    headline.load(entry, Namespace(threads=1))
    from ondevice.bundle import load_manifest, load_tokenizer

    tokenizer = load_tokenizer(bundle, load_manifest(bundle))
    ids, mask = headline.encode(tokenizer, headline.SENTENCE, entry.pad_to(5), entry.input_dtype)
    logits = entry.infer(ids, mask)
    assert logits.shape == (1, 3) and logits.dtype == np.float32
