"""Times a .tflite, .onnx or .pte in its runtime's Python API and prints one JSON object: the runner contract.

This file is a standalone script, run as ``python pyrunner.py --model PATH ...`` in its own process,
on the host and on an emulated ARM64 CPU alike. It runs the artifact through the run half of its
format (``ondevice.converters.<fmt>_runtime``), which needs only NumPy and the runtime (ai-edge-litert
or tflite_runtime, onnxruntime; ExecuTorch's pybindings on the host), because the arm64 Python it also
runs under has no usable torch (PyPI's aarch64 torch is a CUDA build). A separate process also keeps a
crashing runtime from taking the profiler down, and makes the peak resident memory the runtime's own.

Command line and output are those of the native ExecuTorch runner (``cpp/runner.cpp``):
``--model PATH [--method NAME] [--threads N] [--warmup W] [--runs R] [--ids 101,2023,102]``, one JSON
object on stdout with samples_ms, load_ms, first_inference_ms, peak_rss_bytes, logits, method and
seq_len, or ``{"error": "..."}`` and exit status 1 (2 for a bad command line). ``--profile-ops N`` adds
``operators`` (per-operator times per inference, from N separate runs after the timed ones) where the
runtime offers them (ONNX Runtime's profiler, ExecuTorch's ETDump read by its Inspector, LiteRT's profiler
through its C library: ``litert_ops.py``). Progress lines on stderr as each figure is measured
(``ondevice: sample_ms=F``), as the native runner prints them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

# Run as a script, this file finds the ondevice package above it. Appended, not prepended: under the
# emulated Python the arm64 site-packages on PYTHONPATH must win over anything beside the package.
sys.path.append(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import numpy as np  # noqa: E402

from ondevice import converters  # noqa: E402
from ondevice.errors import ArtifactError  # noqa: E402

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


def _inputs(seq_len: int, ids: list[int], dtype) -> tuple[np.ndarray, np.ndarray]:
    if len(ids) > seq_len:
        raise RunnerFailure(f"--ids has {len(ids)} tokens; the model takes {seq_len}")
    input_ids = np.zeros((1, seq_len), dtype=dtype)
    mask = np.zeros((1, seq_len), dtype=dtype)
    input_ids[0, : len(ids)] = ids
    mask[0, : len(ids)] = 1
    return input_ids, mask


def measure(args: argparse.Namespace) -> dict:
    path = args.model
    if not os.path.isfile(path):
        raise RunnerFailure(f"{path}: cannot open (no such file)")
    ids = [int(i) for i in args.ids.split(",")]
    try:
        # Importing the runtime is not loading the model: keep it out of load_ms.
        runtime = converters.runtime(converters.format_of(path))
        t0 = time.perf_counter()
        # The one entry point timed, alone, as an app would load it.
        runner = runtime.Runner(path, threads=args.threads, method=args.method, every=False)
        load_ms = (time.perf_counter() - t0) * 1000
    except ArtifactError as e:
        raise RunnerFailure(str(e)) from None
    _progress("load_ms", load_ms)
    seq_len = runner.seq_len
    method = runner.entry_points[seq_len]
    input_ids, mask = _inputs(seq_len, ids, runner.input_dtype)
    try:
        run = runner.bind(input_ids, mask)
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
    except Exception as e:  # the runtime's own exception types
        raise RunnerFailure(
            f"{path}: {method} failed: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
        ) from None
    result = {
        "runner": "ondevice-pyrunner",
        "runner_version": RUNNER_VERSION,
        "runtime": runner.runtime,
        "model": path,
        "method": method,
        "seq_len": seq_len,
        "input_dtype": str(input_ids.dtype),
        "threads": args.threads,
        "warmup": args.warmup,
        "runs": args.runs,
        "load_ms": load_ms,
        "first_inference_ms": first_ms,
        "samples_ms": samples,
        "peak_rss_bytes": _peak_rss_bytes(),
        "logits": [float(v) for v in logits.reshape(-1)],
    }
    if args.profile_ops:
        result["operators"] = runner.operators(input_ids, mask, args.profile_ops)
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
