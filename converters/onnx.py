"""ONNX, for comparison: torch.onnx.export -> .onnx, int8 through onnxruntime.quantization; runs on ONNX Runtime.

- int8-dynamic: quantize_dynamic (int8 weights, per channel; activations quantized on the fly;
  the embedding tables' Gather ops too).
- int8-static: quantize_static in QDQ format, activations calibrated on real sentences.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import numpy as np
import torch

from converters.common import (
    INPUT_NAMES,
    ExportOptions,
    check_inputs,
    example_inputs,
    keeps_dynamic,
    low_precision_linears,
    low_precision_tables,
    write_atomic,
)
from ondevice.errors import ArtifactError, ExportError

OPSET = 17
SEQ_LENS_KEY = "ondevice.seq_lens"


def _export_fp32(model: torch.nn.Module, opts: ExportOptions, path: Path) -> None:
    import warnings

    ids, mask = example_inputs(opts)
    # One graph for every length: the sequence axis is dynamic; the lengths asked for are recorded
    # in the model's metadata, and the runner holds to them as the mobile formats do.
    dynamic = {"input_ids": {1: "seq"}, "attention_mask": {1: "seq"}} if len(opts.seq_lens) > 1 else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The TorchScript-based exporter: it needs no onnxscript and gives a plain, static graph.
        torch.onnx.export(
            copy.deepcopy(model).eval(),
            (ids, mask),
            str(path),
            input_names=list(INPUT_NAMES),
            output_names=["logits"],
            opset_version=OPSET,
            dynamic_axes=dynamic,
            dynamo=False,
        )


class _Calibration:
    """onnxruntime's CalibrationDataReader protocol over our calibration rows."""

    def __init__(self, opts: ExportOptions):
        rows = [
            {"input_ids": i.numpy(), "attention_mask": m.numpy()}
            for n in opts.seq_lens
            for i, m in opts.calibration_batches(n, limit=64 // len(opts.seq_lens) or 1)
        ]
        self.rows = iter(rows)

    def get_next(self):
        return next(self.rows, None)


def export(model: torch.nn.Module, path: Path, opts: ExportOptions) -> dict:
    """Export (and quantize) to .onnx; returns facts for the manifest."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    try:
        with tempfile.TemporaryDirectory() as d:
            fp32 = Path(d) / "fp32.onnx"
            _export_fp32(model, opts, fp32)
            out = fp32
            if opts.quantize == "int8-dynamic":
                out = Path(d) / "q.onnx"
                quantize_dynamic(fp32, out, weight_type=QuantType.QInt8, per_channel=True)
            elif opts.quantize == "int8-static":
                import onnx

                static = Path(d) / "static.onnx"
                # The linears in STATIC_KEEPS_DYNAMIC get dynamic (per-batch) int8 activations; every
                # other linear and the tables get static int8 from calibration. A static range over
                # the masked attention scores (-1e4 at padding) would leave none for the scores
                # themselves, so those stay float.
                dynamic = [n.name for n in onnx.load(str(fp32)).graph.node if keeps_dynamic(n.name, "/")]
                quantize_static(
                    fp32,
                    static,
                    _Calibration(opts),
                    quant_format=QuantFormat.QDQ,
                    per_channel=True,
                    activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8,
                    op_types_to_quantize=["MatMul", "Gemm", "Gather"],
                    nodes_to_exclude=dynamic,
                )
                out = Path(d) / "q.onnx"
                quantize_dynamic(static, out, weight_type=QuantType.QInt8, per_channel=True, nodes_to_quantize=dynamic)
            import onnx

            proto = onnx.load(str(out))  # the quantizers do not keep model properties: set them last
            onnx.helper.set_model_props(proto, {SEQ_LENS_KEY: ",".join(map(str, opts.seq_lens))})
            data = proto.SerializeToString()
    except ExportError:
        raise
    except Exception as e:  # the exporter and quantizers raise many exception types
        raise ExportError(f"ONNX export failed: {type(e).__name__}: {str(e).splitlines()[0]}") from e
    write_atomic(path, data)
    facts = {
        "opset": OPSET,
        "dynamic_sequence_axis": len(opts.seq_lens) > 1,
        "entry_points": {str(n): "main" for n in opts.seq_lens},
    }
    if opts.quantize != "fp32" and (low_precision_linears(model) or low_precision_tables(model)):
        facts["mixed_precision"] = "not applied: ONNX Runtime's quantizers store every weight in 8 bits here"
    return facts


def check_file(path: Path) -> None:
    import onnx

    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: no such file")
    try:
        onnx.checker.check_model(onnx.load(str(path)))
    except Exception as e:  # protobuf decode errors and checker errors
        raise ArtifactError(f"{path}: not a valid ONNX model, or truncated: {str(e).splitlines()[0][:200]}") from None


class Runner:
    """Runs a .onnx with ONNX Runtime's CPU execution provider."""

    format = "onnx"

    def __init__(self, path: Path, threads: int = 2):
        import onnxruntime as ort

        check_file(path)
        self.path = Path(path)
        self.threads = threads
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types
            raise ArtifactError(f"{path}: ONNX Runtime cannot load it: {str(e).splitlines()[0]}") from None
        inp = {i.name: i for i in self.session.get_inputs()}
        if set(inp) != set(INPUT_NAMES):
            raise ArtifactError(f"{path}: expected inputs input_ids and attention_mask, found {sorted(inp)}")
        props = self.session.get_modelmeta().custom_metadata_map
        if SEQ_LENS_KEY in props:
            self.seq_lens = sorted(int(n) for n in props[SEQ_LENS_KEY].split(","))
        else:  # an .onnx from elsewhere: its static length
            self.seq_lens = [int(inp["input_ids"].shape[1])]
        self.seq_len = self.seq_lens[-1]
        self.input_dtype = np.int32 if inp["input_ids"].type == "tensor(int32)" else np.int64

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        check_inputs(input_ids, attention_mask, self.seq_lens, self.path)
        outs = []
        for i in range(len(input_ids)):  # exported with batch 1, as the phone runs it
            feed = {
                "input_ids": input_ids[i : i + 1].astype(self.input_dtype),
                "attention_mask": attention_mask[i : i + 1].astype(self.input_dtype),
            }
            outs.append(self.session.run(None, feed)[0])
        return np.concatenate(outs)

    def close(self) -> None:
        self.session = None
