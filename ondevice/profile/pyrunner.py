"""Times a .tflite, .onnx or .pte in its runtime's Python API and prints one JSON object: the runner contract.

This file is a standalone script, run as ``python pyrunner.py --model PATH ...`` in its own process,
on the host and on an emulated ARM64 CPU alike. It needs only the standard library, NumPy and the
runtime of the artifact (ai-edge-litert or tflite_runtime, onnxruntime; ExecuTorch's pybindings on the
host), because the arm64 Python it also runs under has no usable torch (PyPI's aarch64 torch is a CUDA
build), which is why it does not import ``converters``. A separate process also keeps a crashing
runtime from taking the profiler down, and makes the peak resident memory the runtime's own.

Command line and output are those of the native ExecuTorch runner (``cpp/runner.cpp``):
``--model PATH [--method NAME] [--threads N] [--warmup W] [--runs R] [--ids 101,2023,102]``, one JSON
object on stdout with samples_ms, load_ms, first_inference_ms, peak_rss_bytes, logits, method and
seq_len, or ``{"error": "..."}`` and exit status 1 (2 for a bad command line). ``--profile-ops N`` adds
``operators`` (per-operator times per inference, from N separate runs after the timed ones) where the
runtime offers them (ONNX Runtime's profiler, ExecuTorch's ETDump read by its Inspector, LiteRT's profiler
through its C library: ``litert_ops.py``). Progress
lines on stderr as each figure is measured (``ondevice: sample_ms=F``), as the native runner prints them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sys
import tempfile
import time

RUNNER_VERSION = 1


class RunnerFailure(Exception):
    pass


def _progress(what: str, value: float) -> None:
    print(f"ondevice: {what}={value:.9g}", file=sys.stderr, flush=True)


def _peak_rss_bytes() -> int:
    # VmHWM belongs to this process's address space; ru_maxrss survives fork and exec on Linux and can
    # be the parent's peak, so it is only the fallback.
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _inputs(np, seq_len: int, ids: list[int], dtype):
    if len(ids) > seq_len:
        raise RunnerFailure(f"--ids has {len(ids)} tokens; the model takes {seq_len}")
    input_ids = np.zeros((1, seq_len), dtype=dtype)
    mask = np.zeros((1, seq_len), dtype=dtype)
    input_ids[0, : len(ids)] = ids
    mask[0, : len(ids)] = 1
    return input_ids, mask


def _import_runtime(ext: str) -> None:
    import importlib

    if ext == ".pte":
        importlib.import_module("executorch.runtime")
        importlib.import_module("executorch.kernels.quantized")
    elif ext == ".onnx":
        importlib.import_module("onnxruntime")
    else:
        try:
            importlib.import_module("ai_edge_litert.interpreter")
        except ImportError:
            importlib.import_module("tflite_runtime.interpreter")


def _open_tflite(path: str, method: str | None, threads: int, ids: list[int]):
    import numpy as np

    try:
        import ai_edge_litert as runtime
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tflite_runtime as runtime
        from tflite_runtime.interpreter import Interpreter
    try:
        interpreter = Interpreter(model_path=path, num_threads=threads)
        signatures = {}
        for name in interpreter.get_signature_list():
            runner = interpreter.get_signature_runner(name)
            signatures[name] = (runner, runner.get_input_details())
    except (ValueError, RuntimeError) as e:
        raise RunnerFailure(f"{path}: LiteRT cannot load it: {str(e).splitlines()[0]}") from None
    if not signatures:
        raise RunnerFailure(f"{path}: has no signatures")
    # Inputs by name, or positionally (args_0, args_1) for a model converted from positional arguments.
    names = {}
    for sig, (_, details) in signatures.items():
        if set(details) == {"input_ids", "attention_mask"}:
            names[sig] = ("input_ids", "attention_mask")
        elif set(details) == {"args_0", "args_1"}:
            names[sig] = ("args_0", "args_1")
        else:
            raise RunnerFailure(f"{path}: expected inputs input_ids and attention_mask, found {sorted(details)}")

    def length(sig: str) -> int:
        return int(signatures[sig][1][names[sig][0]]["shape"][1])

    name = method or min(signatures, key=length)
    wanted = re.fullmatch(r"forward_(\d+)", name)
    if name not in signatures and wanted:  # "forward_<L>": the signature that takes L tokens, by any name
        name = next((sig for sig in signatures if length(sig) == int(wanted.group(1))), name)
    if name not in signatures:
        raise RunnerFailure(f"{path}: no signature {name!r}; it has {', '.join(sorted(signatures))}")
    runner, details = signatures[name]
    ids_name, mask_name = names[name]
    seq_len = length(name)
    input_ids, mask = _inputs(np, seq_len, ids, details[ids_name]["dtype"])
    out_details = next(iter(runner.get_output_details().values()))

    def run():
        logits = next(iter(runner(**{ids_name: input_ids, mask_name: mask}).values()))
        if logits.dtype != np.float32:  # a full-integer model's int8 logits
            q = out_details["quantization_parameters"]
            logits = (logits.astype(np.float32) - int(q["zero_points"][0])) * float(q["scales"][0])
        return logits

    def operators(runs: int) -> dict | None:
        # LiteRT's profiler on a second, compiled copy of the model (the timed interpreter carries no tracing).
        try:
            import litert_ops  # beside this file when it runs as a script
        except ImportError:
            from ondevice.profile import litert_ops
        try:
            return litert_ops.operators(path, name, {ids_name: input_ids, mask_name: mask}, threads, runs)
        except (OSError, AttributeError, litert_ops.LiteRtError) as e:  # a LiteRT without this C API
            return {"source": "litert profiler", "runs": runs, "ops": [], "error": str(e)}

    version = getattr(runtime, "__version__", "unknown")
    return run, name, seq_len, str(input_ids.dtype), {"name": "litert", "version": version}, operators


def _open_onnx(path: str, method: str | None, threads: int, ids: list[int]):
    import numpy as np
    import onnxruntime as ort

    def session(profile_dir: str | None = None):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        if profile_dir:
            so.enable_profiling = True
            so.profile_file_prefix = os.path.join(profile_dir, "ort")
        return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])

    try:
        timed = session()
    except Exception as e:  # onnxruntime raises its own exception types
        raise RunnerFailure(f"{path}: ONNX Runtime cannot load it: {str(e).splitlines()[0]}") from None
    inputs = {i.name: i for i in timed.get_inputs()}
    if set(inputs) != {"input_ids", "attention_mask"}:
        raise RunnerFailure(f"{path}: expected inputs input_ids and attention_mask, found {sorted(inputs)}")
    # One graph with a dynamic sequence axis serves every length; "method" names the length ("forward_32").
    lengths = timed.get_modelmeta().custom_metadata_map.get("ondevice.seq_lens")
    if method:
        suffix = method.rsplit("_", 1)[-1]
        if not suffix.isdigit():
            raise RunnerFailure(f"{path}: an ONNX method is forward_<length>, got {method!r}")
        seq_len = int(suffix)
    else:
        seq_len = min(int(n) for n in lengths.split(",")) if lengths else inputs["input_ids"].shape[1]
    if not isinstance(seq_len, int):
        raise RunnerFailure(f"{path}: the sequence axis is dynamic; pass --method forward_<length>")
    dtype = np.int32 if inputs["input_ids"].type == "tensor(int32)" else np.int64
    input_ids, mask = _inputs(np, seq_len, ids, dtype)
    feed = {"input_ids": input_ids, "attention_mask": mask}

    def run():
        return timed.run(None, feed)[0]

    def operators(runs: int) -> dict:
        # A second session with ONNX Runtime's profiler on, so that the timed samples carry no tracing cost.
        with tempfile.TemporaryDirectory() as tmp:
            profiled = session(tmp)
            for _ in range(runs):
                profiled.run(None, feed)
            with open(profiled.end_profiling()) as f:
                events = json.load(f)
        ops: dict[str, dict] = {}
        for e in events:
            args = e.get("args", {})
            if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time") and "op_name" in args:
                op = ops.setdefault(args["op_name"], {"name": args["op_name"], "count": 0, "total_ms": 0.0})
                op["count"] += 1
                op["total_ms"] += e["dur"] / 1000
        # Per inference: the profiled session ran `runs` times (its first run included).
        per_run = [
            {"name": o["name"], "count": o["count"] // runs, "total_ms": o["total_ms"] / runs} for o in ops.values()
        ]
        return {"source": "onnxruntime profiler", "runs": runs, "ops": sorted(per_run, key=lambda o: -o["total_ms"])}

    runtime = {"name": "onnxruntime", "version": ort.__version__}
    return run, f"forward_{seq_len}", seq_len, str(input_ids.dtype), runtime, operators


def _open_executorch(path: str, method: str | None, threads: int, ids: list[int]):
    import executorch.kernels.quantized  # noqa: F401  registers the quantized_decomposed kernels
    import numpy as np
    import torch
    from executorch.extension.pybindings import portable_lib
    from executorch.runtime import Runtime

    portable_lib._unsafe_reset_threadpool(threads)
    try:
        program = Runtime.get().load_program(path)
        names = sorted(n for n in program.method_names if n == "forward" or n.startswith("forward_"))
        if method and method not in program.method_names:
            raise RunnerFailure(f"{path}: the program has no method {method!r}")
        if not names and not method:
            raise RunnerFailure(f"{path}: the program has no forward method")
        name = method or ("forward" if "forward" in names else names[0])
        loaded = program.load_method(name)
    except RuntimeError as e:
        raise RunnerFailure(f"{path}: ExecuTorch cannot load it: {str(e).splitlines()[0]}") from None
    meta = loaded.metadata.input_tensor_meta(0)
    seq_len = int(meta.sizes()[1])
    dtype = np.int32 if meta.dtype() == 3 else np.int64  # ExecuTorch ScalarType: 3 Int, 4 Long
    input_ids, mask = _inputs(np, seq_len, ids, dtype)
    feed = [torch.from_numpy(input_ids), torch.from_numpy(mask)]

    def run():
        return loaded.execute(feed)[0].numpy()

    def operators(runs: int) -> dict:
        # A second program with ETDump on (the timed one carries no tracing), read with ExecuTorch's Inspector.
        # XNNPACK reports its own ops inside each DELEGATE_CALL; the wrapper events would count time twice.
        from executorch.devtools import Inspector

        traced = Runtime.get().load_program(path, enable_etdump=True)
        method = traced.load_method(name)
        for _ in range(runs):
            method.execute(feed)
        with tempfile.TemporaryDirectory() as tmp:
            dump = os.path.join(tmp, "run.etdp")
            traced.write_etdump_result_to_file(dump, os.path.join(tmp, "debug.bin"))
            frame = Inspector(etdump_path=dump).to_dataframe()
        skip = {"OPERATOR_CALL", "DELEGATE_CALL", "Method::execute", "Method::init", "Program::load_method"}
        ops: dict[str, dict] = {}
        for _, row in frame[frame["event_block_name"] == "Execute"].iterrows():
            event = str(row["event_name"])
            if event in skip:
                continue
            op_name = event.split(" #")[0].removeprefix("native_call_")
            op = ops.setdefault(op_name, {"name": op_name, "count": 0, "total_ms": 0.0})
            op["count"] += 1
            op["total_ms"] += sum(row["raw"]) / len(row["raw"])
        return {"source": "executorch etdump", "runs": runs, "ops": sorted(ops.values(), key=lambda o: -o["total_ms"])}

    from executorch.version import __version__ as version

    return run, name, seq_len, str(input_ids.dtype), {"name": "executorch", "version": version}, operators


def measure(args: argparse.Namespace) -> dict:
    path = args.model
    if not os.path.isfile(path):
        raise RunnerFailure(f"{path}: cannot open (no such file)")
    ids = [int(i) for i in args.ids.split(",")]
    ext = os.path.splitext(path)[1]
    opener = {".tflite": _open_tflite, ".onnx": _open_onnx, ".pte": _open_executorch}.get(ext)
    if opener is None:
        raise RunnerFailure(f"{path}: not a .tflite, .onnx or .pte file")
    _import_runtime(ext)  # importing the runtime is not loading the model: keep it out of load_ms
    t0 = time.perf_counter()
    run, method, seq_len, dtype, runtime, ops = opener(path, args.method, args.threads, ids)
    load_ms = (time.perf_counter() - t0) * 1000
    _progress("load_ms", load_ms)
    try:
        t0 = time.perf_counter()
        logits = run()
        first_ms = (time.perf_counter() - t0) * 1000
        _progress("first_inference_ms", first_ms)
        for _ in range(args.warmup):
            run()
        samples = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            run()
            samples.append((time.perf_counter() - t0) * 1000)
            _progress("sample_ms", samples[-1])
    except RunnerFailure:
        raise
    except Exception as e:  # the runtime's own exception types
        raise RunnerFailure(
            f"{path}: {method} failed: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
        ) from None
    result = {
        "runner": "ondevice-pyrunner",
        "runner_version": RUNNER_VERSION,
        "runtime": runtime,
        "model": path,
        "method": method,
        "seq_len": seq_len,
        "input_dtype": dtype,
        "threads": args.threads,
        "warmup": args.warmup,
        "runs": args.runs,
        "load_ms": load_ms,
        "first_inference_ms": first_ms,
        "samples_ms": samples,
        "peak_rss_bytes": _peak_rss_bytes(),
        "logits": [float(v) for v in logits.reshape(-1)],
    }
    if ops is not None and args.profile_ops:
        result["operators"] = ops(args.profile_ops)
    return result


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        print(json.dumps({"error": message}))
        sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    p = _Parser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--method", default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--ids", default="101,2023,2003,102")
    p.add_argument("--profile-ops", type=int, default=0, metavar="N", help="N more runs for per-operator times")
    args = p.parse_args(argv)
    if args.threads < 1 or args.warmup < 0 or args.runs < 1 or args.profile_ops < 0:
        p.error("--threads and --runs must be at least 1, --warmup and --profile-ops at least 0")
    try:
        result = measure(args)
    except RunnerFailure as e:
        print(json.dumps({"error": str(e)}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
