"""What the fault tables share: a workspace per case and small real models and bundles to break."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import SST2_SAMPLE


@pytest.fixture
def workspace(tmp_path) -> Path:
    """An empty directory the case runs in; everything new in it must be what the case allows."""
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tiny_bert_dir) -> Path:
    """The tiny random BERT as an ondevice checkpoint (what finetune and compress write)."""
    from ondevice.model import load_model, save_checkpoint

    out = tmp_path_factory.mktemp("tiny-ckpt") / "ckpt"
    save_checkpoint(load_model(str(tiny_bert_dir)), out)
    return out


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory, tiny_bert_dir) -> Path:
    """A verified host bundle of the tiny BERT: fp32 .pte, .tflite and .onnx at 16 tokens."""
    from ondevice.data import read_dataset
    from ondevice.export import ExportRequest, export_bundle
    from ondevice.model import load_model

    ckpt = load_model(str(tiny_bert_dir))
    out = tmp_path_factory.mktemp("tiny-bundle") / "bundle"
    req = ExportRequest(target="host", formats=["executorch", "tflite", "onnx"], quantizations=["fp32"], seq_lens=[16])
    export_bundle(ckpt, out, req, read_dataset(SST2_SAMPLE, ckpt.labels))
    return out
