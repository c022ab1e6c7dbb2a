"""ONNX, for comparison, the export half: torch.onnx.export -> .onnx, int8 through onnxruntime.quantization.
It runs on ONNX Runtime (``onnx_runtime``).

- int8-dynamic: quantize_dynamic (int8 weights, per channel; activations quantized on the fly;
  the embedding tables' Gather ops too).
- int8-static: quantize_static in QDQ format, activations calibrated on real sentences.

ONNX Runtime's quantizers give an activation one range per tensor, and a few LayerNorm output
channels run up to 15 times the median channel; both int8 modes first move part of those channels'
range into the weights of the linears that read them (SmoothQuant), as measured on the calibration
sentences.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import torch

from ondevice.converters.common import (
    ExportOptions,
    example_inputs,
    export_failure,
    keeps_dynamic,
    low_precision_linears,
    low_precision_tables,
)
from ondevice.converters.formats import ONNX_SEQ_LENS_KEY
from ondevice.errors import ExportError
from ondevice.output import write_bytes

OPSET = 17


def _export_fp32(model: torch.nn.Module, opts: ExportOptions, path: Path) -> None:
    import warnings

    # One graph for every length: the sequence axis is dynamic; the lengths asked for are recorded
    # in the model's metadata, and the runner holds to them as the mobile formats do.
    dynamic = {name: {1: "seq"} for name in opts.input_names} if len(opts.seq_lens) > 1 else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The TorchScript-based exporter: it needs no onnxscript and gives a plain, static graph.
        torch.onnx.export(
            copy.deepcopy(model).eval(),
            example_inputs(opts),
            str(path),
            input_names=list(opts.input_names),
            output_names=["logits"],
            opset_version=OPSET,
            dynamic_axes=dynamic,
            dynamo=False,
        )


def _read_weights_directly(path: Path) -> None:
    """Let every node read a weight from its initializer, not through an Identity of it. The exporter
    writes a weight that several layers use (ALBERT's shared block) once and hands it to each later use
    through an Identity node; ONNX Runtime's quantizers take a MatMul's weight only from an initializer,
    so they would leave those uses in fp32 and keep a float copy next to the int8 one."""
    import onnx

    proto = onnx.load(str(path))
    graph = proto.graph
    weights = {i.name for i in graph.initializer}
    outputs = {o.name for o in graph.output}
    alias = {
        n.output[0]: n.input[0]
        for n in graph.node
        if n.op_type == "Identity" and n.input[0] in weights and n.output[0] not in outputs
    }
    if not alias:
        return
    kept = [n for n in graph.node if not (n.op_type == "Identity" and n.output[0] in alias)]
    for n in kept:
        n.input[:] = [alias.get(x, x) for x in n.input]
    del graph.node[:]
    graph.node.extend(kept)
    onnx.save(proto, str(path))


SMOOTHING_ALPHA = 0.7  # SmoothQuant's migration strength: 0 leaves the activations as they are


class _Smoothed(torch.nn.Module):
    """``inner(x * inv)``, where ``inner``'s weights carry the channel scales ``1 / inv``: the same
    product, with the channels of ``x`` evened out before ONNX Runtime quantizes it per tensor."""

    def __init__(self, inner: torch.nn.Module, inv: torch.Tensor):
        super().__init__()
        self.inner = inner
        self.register_buffer("inv", inv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x * self.inv)


def _first_linear(m: torch.nn.Module) -> torch.nn.Linear:
    return m if isinstance(m, torch.nn.Linear) else m.reduce  # a LowRankLinear reads x through its reduce


@torch.no_grad()
def smooth(model: torch.nn.Module, opts: ExportOptions, alpha: float = SMOOTHING_ALPHA) -> torch.nn.Module:
    """A copy of ``model`` in which each block's query, key and value projections (one scale for the
    three: they read the same input) and its FFN up-projection (with the gate of a gated FFN, which reads
    the same input) read their input divided by s = max|x|^alpha / max|w|^(1 - alpha) per channel, with
    s folded into their weights (SmoothQuant, Xiao et al. 2023). max|x| is taken over the calibration
    sentences' tokens, padding left out."""
    model = copy.deepcopy(model).eval()
    groups = []  # (attribute owner, attribute names) of the linears that read one input
    for block in model.blocks:
        if block.attention is not None and block.qk_bottleneck is not None:  # MobileBERT: values read the block input
            groups += [(block.attention, ("query", "key")), (block.attention, ("value",))]
        elif block.attention is not None:
            groups.append((block.attention, ("query", "key", "value")))
        if block.ffn is not None:
            groups.append((block.ffn, ("up",) if block.ffn.gate is None else ("up", "gate")))
    peak: dict[int, torch.Tensor] = {}
    current = {}

    def record(i):
        def hook(module, args, out):
            x = args[0]
            keep = current["mask"]
            x = x[keep] if keep.shape == x.shape[:2] else x.reshape(-1, x.shape[-1])  # skimmed: every row
            m = x.abs().amax(0)
            peak[i] = torch.maximum(peak[i], m) if i in peak else m

        return hook

    hooks = [getattr(owner, names[0]).register_forward_hook(record(i)) for i, (owner, names) in enumerate(groups)]
    try:
        for batch in opts.calibration_batches(opts.seq_len):
            current["mask"] = batch[1].bool()
            model(*batch)
    finally:
        for h in hooks:
            h.remove()
    for i, (owner, names) in enumerate(groups):
        linears = [_first_linear(getattr(owner, n)) for n in names]
        w = torch.stack([lin.weight.abs().amax(0) for lin in linears]).amax(0)
        s = (peak[i].clamp(min=1e-5) ** alpha / w.clamp(min=1e-5) ** (1 - alpha)).clamp(min=1e-5)
        for n, lin in zip(names, linears, strict=True):
            lin.weight.mul_(s)
            setattr(owner, n, _Smoothed(getattr(owner, n), 1.0 / s))
    return model


class _Calibration:
    """onnxruntime's CalibrationDataReader protocol over our calibration rows."""

    def __init__(self, opts: ExportOptions):
        rows = [
            opts.named(tuple(t.numpy() for t in batch)) for n in opts.seq_lens for batch in opts.calibration_batches(n)
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
            smoothed = opts.quantize != "fp32" and opts.calibration_ids is not None
            _export_fp32(smooth(model, opts) if smoothed else model, opts, fp32)
            if opts.quantize != "fp32":
                _read_weights_directly(fp32)
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
            onnx.helper.set_model_props(proto, {ONNX_SEQ_LENS_KEY: ",".join(map(str, opts.seq_lens))})
            data = proto.SerializeToString()
    except ExportError:
        raise
    except Exception as e:  # the exporter and quantizers raise many exception types
        raise export_failure("ONNX", e) from e
    write_bytes(path, data)
    facts = {
        "opset": OPSET,
        "dynamic_sequence_axis": len(opts.seq_lens) > 1,
        "entry_points": {str(n): "main" for n in opts.seq_lens},
    }
    if smoothed:
        facts["smoothing"] = {"alpha": SMOOTHING_ALPHA, "linears": "query, key, value, ffn up"}
    if opts.quantize != "fp32" and (low_precision_linears(model) or low_precision_tables(model)):
        facts["mixed_precision"] = "not applied: ONNX Runtime's quantizers store every weight in 8 bits here"
    return facts
