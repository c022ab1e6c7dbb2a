"""Each format: export -> run in its own runtime -> compare with the PyTorch model, on a small BERT."""

import numpy as np
import pytest
import torch

from ondevice import converters
from ondevice.converters.common import ExportOptions
from ondevice.errors import ArtifactError
from ondevice.model import load_model

SENTENCES = ["a gorgeous , witty , seductive movie .", "dull", "", "it 's not a bad film , just a forgettable one"]


@pytest.fixture(scope="module")
def tiny(tiny_bert_dir):
    return load_model(str(tiny_bert_dir))


def _reference(ckpt, ids, mask):
    with torch.no_grad():
        return ckpt.model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()


@pytest.mark.parametrize("fmt", list(converters.FORMATS))
@pytest.mark.parametrize("quantize", ["fp32", "int8-dynamic", "int8-static"])
def test_export_and_run(tiny, fmt, quantize, tmp_path):
    ids, mask = tiny.tokenizer(SENTENCES * 8, max_length=32)
    opts = ExportOptions(quantize=quantize, seq_lens=(16, 32), calibration_ids=ids, calibration_mask=mask)
    path = tmp_path / f"m{converters.FORMATS[fmt].extension}"
    info = converters.module(fmt).export(tiny.model, path, opts)
    assert path.is_file() and not list(tmp_path.glob(".*"))  # written atomically, no temporary left
    runner = converters.open_runner(path, threads=1)
    assert runner.seq_lens == [16, 32] and runner.input_dtype == np.int32
    logits = runner.run(ids[:4], mask[:4])
    ref = _reference(tiny, ids[:4], mask[:4])
    short_ids, short_mask = tiny.tokenizer(SENTENCES, max_length=16)  # the 16-token entry point
    short = runner.run(short_ids, short_mask)
    short_ref = _reference(tiny, short_ids, short_mask)
    assert np.abs(short - short_ref).max() <= (1e-4 if quantize == "fp32" else 0.05 * max(1.0, np.abs(short_ref).max()))
    assert logits.shape == (4, 3)
    if quantize == "fp32":
        assert np.abs(logits - ref).max() <= 1e-4
    else:
        # A random model's logits sit close together; int8 must still track them.
        assert np.abs(logits - ref).max() <= 0.05 * max(1.0, np.abs(ref).max())
    if fmt == "executorch":
        d = info["delegation"]
        assert d["delegate_calls"] > 0 and 0.5 < d["delegated_share"] <= 1.0
        assert d["delegated_flop_share"] > 0.9 and d["delegated_flops"] > 0
        # Layer norms and attention matmuls run inside XNNPACK: nothing splits the encoder's graph, and
        # the only other delegate call is the embeddings' sum and norm (the mask is built between them).
        assert not [op for op in d["not_delegated"] if "layer_norm" in op or "expand" in op or "bmm" in op]
        assert d["delegate_calls"] <= 2, d


@pytest.fixture(scope="module")
def artifacts(tiny, tmp_path_factory):
    d = tmp_path_factory.mktemp("artifacts")
    out = {}
    for fmt, f in converters.FORMATS.items():
        out[fmt] = d / f"m{f.extension}"
        converters.module(fmt).export(tiny.model, out[fmt], ExportOptions(seq_lens=(16,)))
    return out


@pytest.mark.parametrize("fmt", list(converters.FORMATS))
@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_damaged_artifact_refused_before_running(artifacts, fmt, damage, tmp_path):
    data = artifacts[fmt].read_bytes()
    bad = tmp_path / artifacts[fmt].name
    bad.write_bytes({"truncated": data[: len(data) // 2], "garbage": b"\x13\x37" * 500, "empty": b""}[damage])
    with pytest.raises(ArtifactError) as e:
        converters.open_runner(bad)
    assert str(bad) in str(e.value) and "\n" not in str(e.value)


def test_runner_rejects_wrong_length(artifacts):
    runner = converters.open_runner(artifacts["onnx"])
    with pytest.raises(ArtifactError, match="takes sequences of 16 tokens"):
        runner.run(np.zeros((1, 8), np.int64), np.ones((1, 8), np.int64))


def test_unknown_artifact_extension(tmp_path):
    with pytest.raises(ArtifactError, match="not a .pte, .tflite or .onnx"):
        converters.open_runner(tmp_path / "model.bin")


def test_tflite_static_ranges_cover_every_calibration_sentence(tiny):
    """ai-edge-quantizer's own calibration keeps a moving average of each sentence's range, which
    clips sentences with larger activations than most (SST-2's logits were held to +-0.9 of +-4); the
    export's calibration keeps the range over all of them."""
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import recipe

    from ondevice.converters import tflite
    from ondevice.converters.formats import entry_point

    ids, mask = tiny.tokenizer(SENTENCES * 4, max_length=16)
    opts = ExportOptions(quantize="int8-static", seq_lens=(16,), calibration_ids=ids, calibration_mask=mask)
    fp32 = tflite._convert_fp32(tiny.model, opts)
    rules = [dict(recipe.static_wi8_ai8()[0], operation="FULLY_CONNECTED")]
    samples = [{"input_ids": i.numpy(), "attention_mask": m.numpy()} for i, m in opts.calibration_batches(16)]
    signature = entry_point("tflite", opts.seq_lens, 16)
    ranges = tflite._calibrate(fp32, rules, {signature: samples})
    run = Interpreter(model_content=fp32).get_signature_runner(signature)
    logits = np.concatenate([run(**s)["output_0"] for s in samples])
    (out,) = [v for k, v in ranges.items() if k.endswith("output_0_output")]
    assert np.isclose(out["min"].min(), logits.min(), atol=1e-5)
    assert np.isclose(out["max"].max(), logits.max(), atol=1e-5)


def test_onnx_smoothing_keeps_the_product_and_evens_out_channels(tiny):
    """SmoothQuant before ONNX Runtime's per-tensor int8: the smoothed model computes what the model
    does, and the inputs that its query and up-projections quantize have channel peaks closer together."""
    from ondevice.converters import onnx as conv

    ids, mask = tiny.tokenizer(SENTENCES * 4, max_length=16)
    opts = ExportOptions(quantize="int8-dynamic", seq_lens=(16,), calibration_ids=ids, calibration_mask=mask)
    smoothed = conv.smooth(tiny.model, opts)
    with torch.no_grad():
        same = smoothed(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
    assert np.abs(same - _reference(tiny, ids, mask)).max() < 1e-4

    def spread(model, path):  # the largest channel peak over the smallest, on what the linear at ``path`` reads
        seen = []
        linear = model.get_submodule(path)
        hook = linear.register_forward_hook(lambda m, a, o: seen.append(a[0].abs().flatten(0, 1).amax(0)))
        with torch.no_grad():
            model(torch.from_numpy(ids), torch.from_numpy(mask))
        hook.remove()
        peaks = torch.stack(seen).amax(0)
        return float(peaks.max() / peaks.min())

    for block in range(len(tiny.model.blocks)):
        for path in (f"blocks.{block}.attention.query", f"blocks.{block}.ffn.up"):
            assert spread(smoothed, path + ".inner") < spread(tiny.model, path), path


def test_run_halves_need_no_torch(artifacts):
    """The emulated ARM64 Python has no torch: the LiteRT and ONNX run halves import and run without it."""
    import subprocess
    import sys

    script = (
        "import sys; sys.modules['torch'] = None\n"
        "import numpy as np\n"
        "from ondevice import converters\n"
        "ids = np.zeros((2, 16), np.int64); ids[:, :3] = [101, 7592, 102]\n"
        f"for path in {[str(artifacts['tflite']), str(artifacts['onnx'])]!r}:\n"
        "    runner = converters.open_runner(path, threads=1)\n"
        "    print(runner.run(ids, (ids > 0).astype(np.int64)).shape)\n"
        "assert 'ondevice.converters.common' not in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["(2,", "3)", "(2,", "3)"]


def test_litert_model_with_positional_inputs(tiny, tmp_path):
    """A model converted from positional arguments (stock litert-torch) names its inputs args_0 and args_1;
    the runner feeds them by position, and finds its signature by length."""
    import litert_torch

    ids, mask = tiny.tokenizer(SENTENCES, max_length=16)
    example = (torch.from_numpy(ids[:1]).to(torch.int32), torch.from_numpy(mask[:1]).to(torch.int32))
    path = tmp_path / "positional.tflite"
    litert_torch.signature("seq16", tiny.model.eval(), example).convert().export(str(path))
    runner = converters.open_runner(path, threads=1)
    assert runner.seq_lens == [16] and runner.entry_points == {16: "seq16"}
    assert np.abs(runner.run(ids, mask) - _reference(tiny, ids, mask)).max() <= 1e-4
    alone = converters.runtime("tflite").Runner(path, threads=1, method="forward_16")
    assert alone.entry_points == {16: "seq16"}
    with pytest.raises(ArtifactError, match="no signature 'serving_default_32'; it has seq16"):
        converters.runtime("tflite").Runner(path, method="serving_default_32")
