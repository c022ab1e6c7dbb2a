"""Per-operator times of a .tflite from LiteRT's own profiler, through the C API of ``libLiteRt.so``.

ai-edge-litert's Python classes expose no profiler (its ``CompiledModel`` wraps a separate, statically
linked copy of the runtime), but the ``libLiteRt.so`` beside them exports LiteRT's C API, profiler
included. This module drives that library with ctypes: a compiled model on the CPU with the runtime
option ``enable_profiling``, a few runs between ``LiteRtStartProfiler`` and ``LiteRtStopProfiler``, then
the recorded events. With XNNPACK (LiteRT's CPU default) the events are XNNPACK's own operators
("Fully Connected (NC, QD8, F32, QC8W) GEMM", ...), which is where the time goes.

The standard library and NumPy only, like the run half that imports it (``converters.tflite_runtime``).
``operators`` returns None where the wheel has no ``libLiteRt.so`` (``tflite_runtime``, older wheels).
"""

from __future__ import annotations

import ctypes as C
import importlib.util
import os

_CPU = 1  # kLiteRtHwAcceleratorCpu
_WRITE = 1  # kLiteRtTensorBufferLockModeWrite
# LiteRtProfilerEventType: OPERATOR_INVOKE, DELEGATE_OPERATOR_INVOKE, DELEGATE_PROFILED_OPERATOR_INVOKE
_OP_EVENTS = (2, 4, 8)


class _MemoryUsage(C.Structure):
    _fields_ = [("total", C.c_size_t), ("in_use", C.c_size_t), ("private_footprint", C.c_size_t)]


class _Event(C.Structure):  # ProfiledEventData (litert/c/litert_profiler_event.h)
    _fields_ = [
        ("tag", C.c_char_p),
        ("event_type", C.c_int),
        ("start_us", C.c_uint64),
        ("elapsed_us", C.c_uint64),
        ("begin_mem", _MemoryUsage),
        ("end_mem", _MemoryUsage),
        ("metadata1", C.c_uint64),  # operator index
        ("metadata2", C.c_uint64),  # subgraph index
        ("source", C.c_int),
    ]


class LiteRtError(Exception):
    pass


def _library():
    # The wheel's libLiteRt.so is LiteRT's C API, profiler included, which its Python classes do not reach.
    spec = importlib.util.find_spec("ai_edge_litert")
    if spec is None or spec.origin is None:
        return None
    path = os.path.join(os.path.dirname(spec.origin), "libLiteRt.so")
    if not os.path.isfile(path):
        return None
    lib = C.CDLL(path)
    H, P, S = C.c_void_p, C.POINTER, C.c_size_t
    signatures = {
        "LiteRtCreateEnvironment": (C.c_int, P(H)),
        "LiteRtCreateModelFromFile": (H, C.c_char_p, P(H)),
        "LiteRtGetNumModelSignatures": (H, P(S)),
        "LiteRtGetModelSignature": (H, S, P(H)),
        "LiteRtGetSignatureKey": (H, P(C.c_char_p)),
        "LiteRtGetNumSignatureInputs": (H, P(S)),
        "LiteRtGetNumSignatureOutputs": (H, P(S)),
        "LiteRtGetSignatureInputName": (H, S, P(C.c_char_p)),
        "LiteRtGetSignatureInputTensorByIndex": (H, S, P(H)),
        "LiteRtGetSignatureOutputTensorByIndex": (H, S, P(H)),
        "LiteRtGetRankedTensorType": (H, H),
        "LiteRtCreateOptions": (P(H),),
        "LiteRtSetOptionsHardwareAccelerators": (H, C.c_int),
        "LiteRtCreateOpaqueOptions": (C.c_char_p, H, H, P(H)),
        "LiteRtAddOpaqueOptions": (H, H),
        "LiteRtCreateCompiledModel": (H, H, H, P(H)),
        "LiteRtGetCompiledModelInputBufferRequirements": (H, S, S, P(H)),
        "LiteRtGetCompiledModelOutputBufferRequirements": (H, S, S, P(H)),
        "LiteRtCreateManagedTensorBufferFromRequirements": (H, H, H, P(H)),
        "LiteRtGetTensorBufferSize": (H, P(S)),
        "LiteRtLockTensorBuffer": (H, P(H), C.c_int),
        "LiteRtUnlockTensorBuffer": (H,),
        "LiteRtRunCompiledModel": (H, S, S, P(H), S, P(H)),
        "LiteRtCompiledModelGetProfiler": (H, P(H)),
        "LiteRtStartProfiler": (H,),
        "LiteRtStopProfiler": (H,),
        "LiteRtGetNumProfilerEvents": (H, P(C.c_int)),
        "LiteRtGetProfilerEvents": (H, C.c_int, P(_Event)),
    }
    for name, args in signatures.items():
        f = getattr(lib, name)
        f.argtypes, f.restype = list(args), C.c_int  # LiteRtStatus: 0 is OK
    for name in ("LiteRtDestroyEnvironment", "LiteRtDestroyModel", "LiteRtDestroyOptions",
                 "LiteRtDestroyCompiledModel", "LiteRtDestroyTensorBuffer"):  # fmt: skip
        f = getattr(lib, name)
        f.argtypes, f.restype = [H], None
    return lib


def _ok(status: int, what: str) -> None:
    if status != 0:
        raise LiteRtError(f"LiteRT {what} failed (status {status})")


def operators(path: str, signature: str, inputs: dict, threads: int, runs: int) -> dict | None:
    """Per-operator milliseconds per inference over ``runs`` profiled runs of one signature, fed
    ``inputs`` ({input name: NumPy array}); None where this LiteRT has no C library."""
    lib = _library()
    if lib is None:
        return None
    libc = C.CDLL(None)
    libc.strdup.restype, libc.strdup.argtypes = C.c_void_p, [C.c_char_p]
    free = C.cast(libc.free, C.c_void_p)
    H = C.c_void_p
    env, model, opts, compiled = H(), H(), H(), H()
    buffers: list = []
    try:
        _ok(lib.LiteRtCreateEnvironment(0, None, C.byref(env)), "environment")
        _ok(lib.LiteRtCreateModelFromFile(env, path.encode(), C.byref(model)), "model load")
        _ok(lib.LiteRtCreateOptions(C.byref(opts)), "options")
        _ok(lib.LiteRtSetOptionsHardwareAccelerators(opts, _CPU), "options")
        # What LiteRT's runtime and CPU option builders write: TOML text under a known identifier.
        for identifier, toml in ((b"runtime_options_string", "enable_profiling = true\n"),
                                 (b"xnnpack", f"num_threads = {threads}\n")):  # fmt: skip
            opaque = H()
            _ok(lib.LiteRtCreateOpaqueOptions(identifier, libc.strdup(toml.encode()), free, C.byref(opaque)), "options")
            _ok(lib.LiteRtAddOpaqueOptions(opts, opaque), "options")
        _ok(lib.LiteRtCreateCompiledModel(env, model, opts, C.byref(compiled)), "compilation")

        count, sig, index = C.c_size_t(), H(), None
        _ok(lib.LiteRtGetNumModelSignatures(model, C.byref(count)), "signatures")
        for i in range(count.value):
            key = C.c_char_p()
            _ok(lib.LiteRtGetModelSignature(model, i, C.byref(sig)), "signatures")
            _ok(lib.LiteRtGetSignatureKey(sig, C.byref(key)), "signatures")
            if key.value.decode() == signature:
                index = i
                break
        if index is None:
            raise LiteRtError(f"no signature {signature!r}")

        def make(n_fn, tensor_fn, req_fn):
            n = C.c_size_t()
            _ok(n_fn(sig, C.byref(n)), "signature")
            made = []
            for i in range(n.value):
                tensor, req, buf, rtt = H(), H(), H(), (C.c_uint8 * 256)()  # LiteRtRankedTensorType: 72 bytes
                _ok(tensor_fn(sig, i, C.byref(tensor)), "tensor")
                _ok(lib.LiteRtGetRankedTensorType(tensor, C.cast(rtt, H)), "tensor type")
                _ok(req_fn(compiled, index, i, C.byref(req)), "buffer requirements")
                _ok(
                    lib.LiteRtCreateManagedTensorBufferFromRequirements(env, C.cast(rtt, H), req, C.byref(buf)),
                    "buffer",
                )
                buffers.append(buf)
                made.append(buf)
            return made

        ins = make(lib.LiteRtGetNumSignatureInputs, lib.LiteRtGetSignatureInputTensorByIndex,
                   lib.LiteRtGetCompiledModelInputBufferRequirements)  # fmt: skip
        outs = make(lib.LiteRtGetNumSignatureOutputs, lib.LiteRtGetSignatureOutputTensorByIndex,
                    lib.LiteRtGetCompiledModelOutputBufferRequirements)  # fmt: skip
        for i, buf in enumerate(ins):
            name = C.c_char_p()
            _ok(lib.LiteRtGetSignatureInputName(sig, i, C.byref(name)), "input name")
            data = inputs[name.value.decode()]
            size, ptr = C.c_size_t(), H()
            _ok(lib.LiteRtGetTensorBufferSize(buf, C.byref(size)), "buffer")
            if size.value != data.nbytes:
                raise LiteRtError(f"input {name.value.decode()} takes {size.value} bytes, got {data.nbytes}")
            _ok(lib.LiteRtLockTensorBuffer(buf, C.byref(ptr), _WRITE), "buffer lock")
            C.memmove(ptr, data.ctypes.data, data.nbytes)
            _ok(lib.LiteRtUnlockTensorBuffer(buf), "buffer unlock")
        in_arr, out_arr = (H * len(ins))(*ins), (H * len(outs))(*outs)

        def run() -> None:
            _ok(lib.LiteRtRunCompiledModel(compiled, index, len(ins), in_arr, len(outs), out_arr), "run")

        profiler = H()  # owned by the compiled model
        _ok(lib.LiteRtCompiledModelGetProfiler(compiled, C.byref(profiler)), "profiler")
        if not profiler.value:
            raise LiteRtError("the compiled model has no profiler")
        run()  # the first run sets up XNNPACK's workspace; not profiled
        _ok(lib.LiteRtStartProfiler(profiler), "profiler start")
        for _ in range(runs):
            run()
        _ok(lib.LiteRtStopProfiler(profiler), "profiler stop")
        n = C.c_int()
        _ok(lib.LiteRtGetNumProfilerEvents(profiler, C.byref(n)), "profiler events")
        events = (_Event * max(n.value, 1))()
        if n.value:
            _ok(lib.LiteRtGetProfilerEvents(profiler, n.value, events), "profiler events")
        ops: dict[str, dict] = {}
        for e in events[: n.value]:
            if e.event_type in _OP_EVENTS:
                name = (e.tag or b"?").decode(errors="replace")
                op = ops.setdefault(name, {"name": name, "count": 0, "total_ms": 0.0})
                op["count"] += 1
                op["total_ms"] += e.elapsed_us / 1000
        per_run = [
            {"name": o["name"], "count": o["count"] // runs, "total_ms": o["total_ms"] / runs} for o in ops.values()
        ]
        return {"source": "litert profiler", "runs": runs, "ops": sorted(per_run, key=lambda o: -o["total_ms"])}
    finally:
        for buf in buffers:
            lib.LiteRtDestroyTensorBuffer(buf)
        if compiled.value:
            lib.LiteRtDestroyCompiledModel(compiled)
        if opts.value:
            lib.LiteRtDestroyOptions(opts)
        if model.value:
            lib.LiteRtDestroyModel(model)
        if env.value:
            lib.LiteRtDestroyEnvironment(env)
