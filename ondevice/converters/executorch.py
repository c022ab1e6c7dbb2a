"""ExecuTorch, the export half: torch.export -> XNNPACK lowering -> .pte. It runs on ExecuTorch's
pybindings (``executorch_runtime``).

Quantization (all through torchao, which the XNNPACK partitioner and ExecuTorch's quant-fusion pass
understand):
- int8-dynamic: linears with per-channel int8 weights and int8 activations quantized per token
  at run time; the word and position tables with per-row int8 weights (the word table is half of
  MiniLM's parameters).
- int8-static: linears with per-channel int8 weights and int8 activations calibrated on real
  sentences (pt2e, XNNPACKQuantizer), but for the FFN's up- and down-projections (dynamic); tables
  as in int8-dynamic.
"""

from __future__ import annotations

import copy
import logging
from collections import Counter
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
from ondevice.converters.formats import entry_point
from ondevice.errors import ExportError
from ondevice.model.encoder import fixed_length
from ondevice.output import write_bytes

# Graph nodes that are bookkeeping, not computation.
_BOOKKEEPING = {"getitem", "alloc", "executorch_call_delegate"}


class _LayerNormForXnnpack(torch.nn.Module):
    """LayerNorm from ops XNNPACK runs: the means over the features as fully-connected layers with one
    output. The XNNPACK partitioner takes no layer norm, and each one left to the portable kernels
    splits the delegated graph, twice per block."""

    def __init__(self, norm: torch.nn.LayerNorm):
        super().__init__()
        (C,) = norm.normalized_shape
        self.register_buffer("average", torch.full((1, C), 1.0 / C))
        self.weight, self.bias, self.eps = norm.weight, norm.bias, norm.eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = x - torch.nn.functional.linear(x, self.average)
        var = torch.nn.functional.linear(d * d, self.average)
        y = d * torch.rsqrt(var + self.eps) * self.weight
        return y if self.bias is None else y + self.bias  # ModernBERT's norms have no bias


def _delegable_norms(model: torch.nn.Module) -> None:
    for m in list(model.modules()):
        for child_name, child in list(m.named_children()):
            if isinstance(child, torch.nn.LayerNorm) and len(child.normalized_shape) == 1:
                setattr(m, child_name, _LayerNormForXnnpack(child))


def _quantize_tables(model: torch.nn.Module) -> None:
    """Embedding tables with int8 weights, one scale per row; tables that mixed precision puts at 4 bits
    also with one scale per row (ExecuTorch's embedding_4bit kernel)."""
    from torchao.quantization.granularity import PerAxis
    from torchao.quantization.quant_api import IntxWeightOnlyConfig, quantize_

    low = low_precision_tables(model)
    # The token-type table is read by row index in the graph, which quantized tensors do not support;
    # it holds only two rows.
    quantize_(
        model,
        IntxWeightOnlyConfig(weight_dtype=torch.int8, granularity=PerAxis(0)),
        lambda m, fqn: isinstance(m, torch.nn.Embedding) and "token_type" not in fqn and fqn not in low,
    )
    for fqn, (bits, _) in low.items():
        config = IntxWeightOnlyConfig(weight_dtype=getattr(torch, f"int{bits}"), granularity=PerAxis(0))
        quantize_(model, config, lambda m, name, fqn=fqn: name == fqn)


def _prepare(model: torch.nn.Module, opts: ExportOptions) -> dict[str, torch.export.ExportedProgram]:
    """One exported program per sequence length, named as the .pte's methods."""
    model = copy.deepcopy(model).eval()
    _delegable_norms(model)
    if opts.quantize == "fp32":
        return {
            entry_point("executorch", opts.seq_lens, n): torch.export.export(
                fixed_length(model, n), example_inputs(opts, n)
            )
            for n in opts.seq_lens
        }
    if opts.quantize == "int8-dynamic":
        from torchao.quantization.granularity import PerAxis, PerGroup
        from torchao.quantization.quant_api import Int8DynamicActivationIntxWeightConfig, quantize_

        low = low_precision_linears(model)
        quantize_(
            model,
            Int8DynamicActivationIntxWeightConfig(weight_dtype=torch.int8, weight_granularity=PerAxis(0)),
            lambda m, fqn: isinstance(m, torch.nn.Linear) and fqn not in low,
        )
        for fqn, (bits, group) in low.items():  # mixed precision: XNNPACK's 4-bit groupwise kernels
            granularity = PerGroup(group) if group else PerAxis(0)
            config = Int8DynamicActivationIntxWeightConfig(
                weight_dtype=getattr(torch, f"int{bits}"), weight_granularity=granularity
            )
            quantize_(model, config, lambda m, name, fqn=fqn: name == fqn)
        _quantize_tables(model)
        return {
            entry_point("executorch", opts.seq_lens, n): torch.export.export(
                fixed_length(model, n), example_inputs(opts, n)
            )
            for n in opts.seq_lens
        }
    if low_precision_linears(model) or low_precision_tables(model):
        raise ExportError("4-bit weights (mixed precision) are exported with --quantize int8-dynamic only")
    # int8-static: activation ranges are calibrated for each length on its own
    _quantize_tables(model)
    return {entry_point("executorch", opts.seq_lens, n): _static(model, opts, n) for n in opts.seq_lens}


def _static(model: torch.nn.Module, opts: ExportOptions, length: int) -> torch.export.ExportedProgram:
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    example = example_inputs(opts, length)
    model = fixed_length(model, length)
    graph = torch.export.export(model, example).module()
    # Linears only: the attention scores carry the additive padding mask (-1e4), and a static int8
    # range stretched over it leaves no resolution for the scores themselves. The FFN's two linears
    # keep dynamic (per-token) int8 activations: the down-projections take GELU outputs with
    # heavy-tailed ranges, the up-projections LayerNorm outputs with a few outsized channels (static,
    # they cost the default model 0.8 points of label agreement on SST-2 dev).
    quantizer = XNNPACKQuantizer()
    static = get_symmetric_quantization_config(is_per_channel=True)
    dynamic = get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True)
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            # A low-rank projection is two linears (ffn.down.reduce, ffn.down.expand): both dynamic.
            # (Dynamic query, key and value projections split XNNPACK's graph in eight and kept no more labels.)
            ffn = keeps_dynamic(name, pairs=(("ffn", "up"), ("ffn", "down")))
            quantizer.set_module_name(name, dynamic if ffn else static)
    prepared = prepare_pt2e(graph, quantizer)
    with torch.no_grad():
        for batch in opts.calibration_batches(length):
            prepared(*batch)
    return torch.export.export(convert_pt2e(prepared), example)


class _Reasons(logging.Handler):
    """Collects the XNNPACK partitioner's explanations of the ops it leaves out."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if msg.startswith("WhyNoPartition"):
            self.messages.append(msg.removeprefix("WhyNoPartition:").strip())


def _op_name(target) -> str:
    """'aten.native_layer_norm.default' from an EdgeOpOverload's printed form."""
    return str(target).split(": schema")[0].removeprefix("<EdgeOpOverload: ").rstrip(">")


def _flops(node) -> int:
    """Rough FLOPs of one graph node: 2·M·N·K for matrix products, one per output element otherwise."""
    val = node.meta.get("val")
    if not isinstance(val, torch.Tensor):
        return 0
    out = val.numel()
    name = _op_name(node.target)
    if any(k in name for k in ("mm", "linear", "matmul", "convolution")):
        args = [a for a in node.args if hasattr(a, "meta") and isinstance(a.meta.get("val"), torch.Tensor)]
        if "addmm" in name and len(args) >= 2:
            return 2 * out * args[1].meta["val"].shape[-1]
        if args:
            return 2 * out * args[0].meta["val"].shape[-1]
    return out


def delegation_report(edge) -> dict:
    """How much of the program XNNPACK runs, and what falls back to portable kernels."""
    # Every method is lowered the same way; the longest one speaks for all.
    gm = edge.exported_program(sorted(edge.methods)[-1] if len(edge.methods) > 1 else "forward").graph_module
    calls = [n for n in gm.graph.nodes if n.op == "call_function"]
    delegates = sum(1 for n in calls if "executorch_call_delegate" in str(n.target))
    delegated_ops = delegated_flops = portable_flops = 0
    for name, sub in gm.named_children():
        if name.startswith("lowered_module"):
            inner = sub.original_module.graph_module.graph
            for n in inner.nodes:
                if n.op == "call_function" and "getitem" not in str(n.target):
                    delegated_ops += 1
                    delegated_flops += _flops(n)
    fallback = Counter()
    for n in calls:
        t = str(n.target)
        if any(b in t for b in _BOOKKEEPING):
            continue
        fallback[_op_name(n.target).removesuffix(".out").removesuffix("_out")] += 1
        portable_flops += _flops(n)
    total = delegated_ops + sum(fallback.values())
    total_flops = delegated_flops + portable_flops
    return {
        "backend": "XnnpackBackend",
        "delegate_calls": delegates,
        "delegated_ops": delegated_ops,
        "portable_ops": sum(fallback.values()),
        "delegated_share": round(delegated_ops / total, 4) if total else 0.0,
        "delegated_flops": delegated_flops,
        "portable_flops": portable_flops,
        "delegated_flop_share": round(delegated_flops / total_flops, 4) if total_flops else 0.0,
        "not_delegated": dict(fallback.most_common()),
    }


def _summarize_reasons(messages: list[str]) -> dict[str, int]:
    """'Node aten_x_default_3 was not partitioned because invalid dtype.' -> {'aten_x: invalid dtype': n}."""
    import re

    out: Counter = Counter()
    for m in messages:
        hit = re.match(r"Node (\w+) was not partitioned because (.*?)\.?$", m)
        if not hit:
            out[m] += 1
            continue
        op = re.sub(r"(_default|_Tensor|_int|_Scalar)?(_\d+)?$", "", hit.group(1))
        out[f"{op}: {hit.group(2)}"] += 1
    return dict(out.most_common())


def export(model: torch.nn.Module, path: Path, opts: ExportOptions) -> dict:
    """Export, lower to XNNPACK and serialize a .pte; returns facts for the manifest."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import EdgeCompileConfig, ExecutorchBackendConfig, to_edge_transform_and_lower

    reasons = _Reasons()
    log = logging.getLogger("executorch.backends.xnnpack")
    old_level = log.level
    old_propagate = log.propagate
    log.addHandler(reasons)
    log.setLevel(logging.DEBUG)
    log.propagate = False  # the reasons go into the report, not onto the user's terminal
    try:
        programs = _prepare(model, opts)
        # Several methods share one copy of the weights: XNNPACK's named data store deduplicates them.
        edge = to_edge_transform_and_lower(
            programs,
            partitioner=[XnnpackPartitioner()],
            # torchao's quantized tables are fused into quantized_decomposed::embedding_byte below.
            compile_config=EdgeCompileConfig(_check_ir_validity=False),
        )
        program = edge.to_executorch(ExecutorchBackendConfig(do_quant_fusion_and_const_prop=True))
        report = delegation_report(program)  # after quant fusion: what the runtime will execute
    except ExportError:
        raise
    except Exception as e:  # export and lowering raise many exception types
        raise export_failure("ExecuTorch", e) from e
    finally:
        log.removeHandler(reasons)
        log.setLevel(old_level)
        log.propagate = old_propagate
    report["why_not_delegated"] = _summarize_reasons(reasons.messages)
    write_bytes(path, program.buffer)
    return {
        "entry_points": {str(n): entry_point("executorch", opts.seq_lens, n) for n in opts.seq_lens},
        "delegation": report,
    }
