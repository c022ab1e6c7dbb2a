"""The peers of the headline benchmark, exported the way each tool's own documentation does it.

Every peer starts from the same fine-tuned weights, run by ``transformers``' ``BertModel``
(``ondevice.model.hf.TransformersClassifier``), with a dynamic sequence axis where the tool can export
one, so that in the real-sentence regime each runs at the sentence's own length:

- ONNX Runtime: ``torch.onnx.export`` with dynamic axes, then ``onnxruntime.quantization.quantize_dynamic``
  (int8 weights, dynamically quantized activations), as Hugging Face optimum's ONNX path does.
- ExecuTorch (stock): ``torch.export`` -> ``to_edge_transform_and_lower`` with the ``XnnpackPartitioner``;
  int8 through torchao's ``Int8DynamicActivationIntxWeightConfig`` on the linear layers (per-channel
  weights, dynamic activations), as ExecuTorch's guides for transformers models do it. The
  word-embedding table stays fp32.
- LiteRT (stock): ``litert_torch`` conversion; int8 through AI Edge Quantizer's dynamic-range recipe
  (int8 weights, embedding tables included, dynamic activations). Its dynamic sequence axis fails on
  BERT, so it has signatures for 32, 64 and 128 tokens and pads to the smallest that fits.

Each ``runner_*`` returns ``infer(input_ids, attention_mask) -> logits`` for (1, L) int64 arrays, run
through the format's run half (``ondevice.converters.<format>_runtime``), as ondevice's own artifacts are.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

MAX_LEN = 128
LITERT_LENGTHS = (32, 64, 128)


def _atomic(path: Path, write) -> Path:
    from ondevice.output import staged_file

    with staged_file(path) as tmp:
        write(tmp)
    return path


def _example(max_len: int = MAX_LEN):
    ids = torch.full((1, max_len), 1000, dtype=torch.long)
    mask = torch.ones((1, max_len), dtype=torch.long)
    seq = torch.export.Dim("seq", min=2, max=max_len)
    return (ids, mask), ({1: seq}, {1: seq})


# ONNX Runtime


def export_onnx(model: torch.nn.Module, out: Path, quantize: bool) -> Path:
    (ids, mask), _ = _example()

    def write(tmp: Path) -> None:
        torch.onnx.export(
            model,
            (ids, mask),
            str(tmp),
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes={"input_ids": {1: "seq"}, "attention_mask": {1: "seq"}},
            opset_version=17,
            dynamo=False,
        )
        if quantize:
            # The peer's own quantizer, as optimum uses it: converter tooling that ships inside onnxruntime.
            from onnxruntime.quantization import QuantType, quantize_dynamic

            fp32 = tmp.with_name(tmp.name + ".fp32.onnx")
            os.replace(tmp, fp32)
            try:
                quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8)
            finally:
                fp32.unlink(missing_ok=True)

    return _atomic(out, write)


def runner_onnx(path: Path, threads: int):
    from ondevice import converters

    runner = converters.runtime("onnx").Runner(path, threads, dynamic=MAX_LEN)
    return runner.run


# ExecuTorch, stock


def export_executorch(model: torch.nn.Module, out: Path, quantize: bool) -> Path:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    example, dynamic = _example()
    if quantize:
        # torchao's int8 linear quantization before export, as ExecuTorch's XNNPACK and optimum-executorch
        # guides do for transformers models. (The PT2E XNNPACKQuantizer flow fails on transformers' BERT:
        # after prepare_pt2e, the attention-mask construction indexes with a non-integer tensor.)
        import copy

        from torchao.quantization.granularity import PerAxis
        from torchao.quantization.quant_api import Int8DynamicActivationIntxWeightConfig, quantize_

        model = copy.deepcopy(model)
        quantize_(
            model,
            Int8DynamicActivationIntxWeightConfig(weight_dtype=torch.int8, weight_granularity=PerAxis(0)),
            lambda m, fqn: isinstance(m, torch.nn.Linear),
        )
    program = torch.export.export(model, example, dynamic_shapes=dynamic)
    et = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()]).to_executorch()
    return _atomic(out, lambda tmp: tmp.write_bytes(et.buffer))


def runner_executorch(path: Path, threads: int):
    from ondevice import converters

    runner = converters.runtime("executorch").Runner(path, threads, dynamic=MAX_LEN)
    return runner.run


# LiteRT, stock


def export_litert(model: torch.nn.Module, out: Path, quantize: bool) -> Path:
    """One signature per length of LITERT_LENGTHS: litert-torch 0.10's conversion with a dynamic sequence
    axis fails on BERT (a symbolic size reaches an integer comparison in its lowering), so the stock
    artifact uses its multi-signature API. int8: AI Edge Quantizer's dynamic-range recipe on the
    converted model, LiteRT's documented post-training path (litert-torch's PT2E flow fails on
    transformers' BERT as ExecuTorch's does)."""
    import litert_torch

    converter = None
    for n in LITERT_LENGTHS:
        example, _ = _example(n)
        converter = (converter or litert_torch).signature(f"seq{n}", model, example)
    edge = converter.convert()

    def write(tmp: Path) -> None:
        edge.export(str(tmp))
        if quantize:
            from ai_edge_quantizer import quantizer, recipe

            qt = quantizer.Quantizer(str(tmp))
            qt.load_quantization_recipe(recipe.dynamic_wi8_afp32())
            tmp.write_bytes(bytes(qt.quantize().quantized_model))

    return _atomic(out, write)


def runner_litert(path: Path, threads: int):
    """Pads each sentence to the smallest signature that holds it."""
    from ondevice import converters
    from ondevice.converters.inputs import pick_length

    runner = converters.runtime("tflite").Runner(path, threads)

    def infer(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        n = pick_length(runner.seq_lens, ids.shape[1])
        padded = [np.zeros((1, n), dtype=a.dtype) for a in (ids, mask)]
        for p, a in zip(padded, (ids, mask), strict=True):
            p[:, : a.shape[1]] = a[:, :n]
        return runner.run(*padded)

    return infer


EXPORTERS = {"onnx": export_onnx, "executorch": export_executorch, "tflite": export_litert}
RUNNERS = {"onnx": runner_onnx, "executorch": runner_executorch, "tflite": runner_litert}
