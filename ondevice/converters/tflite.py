"""TFLite / LiteRT, the export half: litert-torch conversion -> .tflite, quantized with ai-edge-quantizer.
It runs on ai-edge-litert (``tflite_runtime``).

- fp32: litert-torch's converter as it is (int64 inputs become int32).
- int8-dynamic: dynamic-range quantization (recipe dynamic_wi8_afp32): int8 weights, including the
  embedding tables, with activations quantized on the fly.
- int8-static: the linears with int8 weights and int8 activations calibrated on real sentences
  (recipe static_wi8_ai8, restricted to FULLY_CONNECTED, ranges the min and max over every
  calibration sentence), except the linears in STATIC_KEEPS_DYNAMIC (the FFN's and the query, key and
  value projections), which keep dynamic int8 activations; the tables with int8 weights.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import torch

from ondevice.converters.common import (
    STATIC_KEEPS_DYNAMIC,
    ExportOptions,
    example_inputs,
    export_failure,
    low_precision_linears,
    low_precision_tables,
)
from ondevice.converters.formats import entry_point
from ondevice.errors import ExportError
from ondevice.output import write_bytes


def _convert_fp32(model: torch.nn.Module, opts: ExportOptions) -> bytes:
    import litert_torch

    model = copy.deepcopy(model).eval()
    converter = litert_torch.Converter()
    for n in opts.seq_lens:  # one signature per length; the weights are stored once
        converter.signature(
            entry_point("tflite", opts.seq_lens, n), model, sample_kwargs=opts.named(example_inputs(opts, n))
        )
    edge = converter.convert()
    with tempfile.TemporaryDirectory() as d:
        edge.export(str(Path(d) / "m.tflite"))
        return (Path(d) / "m.tflite").read_bytes()


def scope_pattern(model: torch.nn.Module, name: str) -> str:
    """The regex that picks module ``name``'s ops out of litert-torch's tensor names, which spell the
    module path as ``package.Class_attribute`` steps (``...Block_5/...FeedForward_ffn/...Linear_up``)."""
    steps, m = [], model
    for part in name.split("."):
        child = getattr(m, part) if not part.isdigit() else m[int(part)]
        if part.isdigit():
            steps.pop()  # a list's items are named Class_index, and the list is not named
        steps.append(f"{type(child).__module__}.{type(child).__name__}_{part}")
        m = child
    # An op's scope lists its output tensors' names, ";"-separated; fused ops list the ops they follow
    # too, and the first linear named is the op's own (".../Linear_key;;.../Linear_query;1;" is the key).
    not_linear = "(?:(?!" + re.escape("torch.nn.modules.linear.Linear_") + ")[^;])*"
    return f"^(?:{not_linear};+)*?(?:[^;]*/)?" + re.escape("/".join(steps)) + ";"


def _quantize(
    fp32: bytes,
    opts: ExportOptions,
    low: dict[str, tuple[int, int]] | None = None,
    low_tables: dict[str, tuple[int, int]] | None = None,
) -> bytes:
    """``low``, ``low_tables``: mixed precision, {scope regex: (bits, group size or 0)} for the linears
    and the embedding tables below 8 bits."""
    low, low_tables = low or {}, low_tables or {}
    from ai_edge_quantizer import quantizer, recipe

    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "fp32.tflite"
        src.write_bytes(fp32)
        qt = quantizer.Quantizer(str(src))
        if opts.quantize == "int8-dynamic":
            rules = recipe.dynamic_wi8_afp32()
            low_ops = [(p, bg, "FULLY_CONNECTED") for p, bg in low.items()]
            low_ops += [(p, bg, "EMBEDDING_LOOKUP") for p, bg in low_tables.items()]
            for pattern, (bits, group), op in low_ops:  # mixed precision: later rules win
                base = recipe.dynamic_wi4b32_afp32()[0] if group == 32 else recipe.dynamic_wi4c_afp32()[0]
                rule = dict(base, operation=op, regex=pattern)
                rule["op_config"] = dict(rule["op_config"])
                rule["op_config"]["weight_tensor_config"] = dict(
                    rule["op_config"]["weight_tensor_config"], num_bits=bits
                )
                rules.append(rule)
            qt.load_quantization_recipe(rules)
            result = qt.quantize()
        else:
            # Linears with calibrated int8 activations, tables with int8 weights; the rest stays float,
            # since a static range over the masked attention scores (-1e4 at padding) leaves no
            # resolution for the scores themselves. The linears in STATIC_KEEPS_DYNAMIC keep dynamic
            # int8 activations (later rules win; "LowRankLinear_query" matches too).
            static_fc = dict(recipe.static_wi8_ai8()[0], operation="FULLY_CONNECTED")
            dynamic = [
                dict(recipe.dynamic_wi8_afp32()[0], operation="FULLY_CONNECTED", regex=f".*Linear_{proj}.*")
                for _, proj in STATIC_KEEPS_DYNAMIC
            ]
            tables = dict(recipe.dynamic_wi8_afp32()[0], operation="EMBEDDING_LOOKUP")
            rules = [static_fc, *dynamic, tables]
            qt.load_quantization_recipe(rules)
            samples = {
                entry_point("tflite", opts.seq_lens, n): [
                    opts.named(tuple(t.numpy().astype(np.int32) for t in batch))
                    for batch in opts.calibration_batches(n)
                ]
                for n in opts.seq_lens
            }
            result = qt.quantize(_calibrate(fp32, rules, samples))
        out = Path(d) / "q.tflite"
        result.export_model(str(out), overwrite=True)
        return out.read_bytes()


def _calibrate(fp32: bytes, rules: list[dict], samples: dict) -> dict:
    """{tensor: {"min", "max"}} over every calibration sentence.

    ``Quantizer.calibrate`` keeps a moving average of each sentence's own range (weight 0.95 on the
    past), which ends near a typical sentence's range: on SST-2 it held the logits to [-0.93, 0.83]
    while sentences reach +-4, and clipped every static tensor alike. The whole range is what
    ONNX Runtime's and PyTorch's min-max calibration keep."""
    from ai_edge_quantizer import calibrator, recipe_manager
    from ai_edge_quantizer.utils import qsv_utils

    manager = recipe_manager.RecipeManager()
    manager.load_quantization_recipe(rules)
    calib = calibrator.Calibrator(fp32, num_threads=1, qsv_update_func=qsv_utils.min_max_update)
    calib.calibrate(samples, manager)
    return calib.get_model_qsvs()


@contextlib.contextmanager
def _quiet():
    """The converter and quantizer print progress and summaries to stdout, which carries our results."""
    old = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        if old is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = old


def export(model: torch.nn.Module, path: Path, opts: ExportOptions) -> dict:
    """Convert to .tflite (and quantize); returns facts for the manifest."""
    low, low_tables = low_precision_linears(model), low_precision_tables(model)
    if (low or low_tables) and opts.quantize == "int8-static":
        raise ExportError("4-bit weights (mixed precision) are exported with --quantize int8-dynamic only")
    try:
        with _quiet():
            data = _convert_fp32(model, opts)
            if opts.quantize != "fp32":
                data = _quantize(
                    data,
                    opts,
                    {scope_pattern(model, name): bg for name, bg in low.items()},
                    {scope_pattern(model, name): bg for name, bg in low_tables.items()},
                )
    except ExportError:
        raise
    except Exception as e:  # the converters raise many exception types
        raise export_failure("TFLite", e) from e
    write_bytes(path, data)
    return {
        "entry_points": {str(n): entry_point("tflite", opts.seq_lens, n) for n in opts.seq_lens},
        "ops": _op_counts(path),
    }


def _op_counts(path: Path) -> dict[str, int]:
    from collections import Counter

    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    ops = Counter(d["op_name"] for d in it._get_ops_details())
    return dict(ops.most_common())
