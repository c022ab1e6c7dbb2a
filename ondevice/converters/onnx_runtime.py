"""ONNX, the run half: a .onnx on ONNX Runtime's CPU execution provider.

NumPy and the runtime only, no torch: the profiler's runner loads it under an emulated ARM64 Python too.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
import onnxruntime as ort

from ondevice.converters.formats import FORMATS, ONNX_SEQ_LENS_KEY, entry_point, input_names, length_asked
from ondevice.converters.inputs import RowRunner, check_inputs
from ondevice.errors import ArtifactError


def check_file(path: Path) -> None:
    """The ONNX checker's verdict, from the ``onnx`` package (installed with the converters).

    The Runner does not call it: ONNX Runtime's loader refuses the same files, and the Runner then needs
    ONNX Runtime alone."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: no such file")
    try:
        onnx.checker.check_model(onnx.load(str(path)))
    except Exception as e:  # protobuf decode errors and checker errors
        raise ArtifactError(f"{path}: not a valid ONNX model, or truncated: {str(e).splitlines()[0][:200]}") from None


class Runner(RowRunner):
    """Runs a .onnx: one graph, whose sequence axis is dynamic when it was exported with several lengths.

    Args:
        path: the .onnx file.
        threads: ONNX Runtime's intra-op threads.
        method: ``forward_<L>``: run L tokens alone (any length the graph takes); None: the lengths the
            model records.
        every: without ``method``, False runs the shortest length alone.
        dynamic: the longest input of a graph whose sequence axis is dynamic and records no lengths
            (another tool's export): every length from 2 to it runs as it is, unpadded.
    """

    format = "onnx"
    runtime = {"name": FORMATS[format].runtime, "version": ort.__version__}

    def __init__(
        self, path: Path, threads: int = 2, method: str | None = None, every: bool = True, dynamic: int | None = None
    ):
        self.path = Path(path)
        self.threads = threads
        if not self.path.is_file():
            raise ArtifactError(f"{path}: no such file")
        try:
            self.session = self._session()
        except Exception as e:  # onnxruntime raises its own exception types
            raise ArtifactError(f"{path}: ONNX Runtime cannot load it: {str(e).splitlines()[0]}") from None
        inp = {i.name: i for i in self.session.get_inputs()}
        self.takes_types = set(inp) == set(input_names(True))
        self.input_names = input_names(self.takes_types)
        if set(inp) != set(self.input_names):
            raise ArtifactError(
                f"{path}: expected inputs input_ids and attention_mask (and token_type_ids), found {sorted(inp)}"
            )
        recorded = self.session.get_modelmeta().custom_metadata_map.get(ONNX_SEQ_LENS_KEY)
        if method is not None:
            n = length_asked(method)
            if n is None:
                raise ArtifactError(f"{path}: an ONNX method is forward_<length>, got {method!r}")
            self.seq_lens = [n]
        elif dynamic:
            self.seq_lens = list(range(2, dynamic + 1))
        elif recorded:
            self.seq_lens = sorted(int(n) for n in recorded.split(","))
        elif isinstance(inp["input_ids"].shape[1], int):  # an .onnx from elsewhere: its static length
            self.seq_lens = [inp["input_ids"].shape[1]]
        else:
            raise ArtifactError(
                f"{path}: the sequence axis is dynamic and no lengths are recorded; ask for forward_<length>"
            )
        if not every:
            self.seq_lens = self.seq_lens[:1]
        self.seq_len = self.seq_lens[-1]
        self.entry_points = {n: entry_point(self.format, self.seq_lens, n) for n in self.seq_lens}
        self.input_dtype = np.int32 if inp["input_ids"].type == "tensor(int32)" else np.int64

    def _session(self, profile_dir: str | None = None) -> ort.InferenceSession:
        so = ort.SessionOptions()
        so.intra_op_num_threads = self.threads
        so.inter_op_num_threads = 1
        if profile_dir:
            so.enable_profiling = True
            so.profile_file_prefix = os.path.join(profile_dir, "ort")
        return ort.InferenceSession(str(self.path), so, providers=["CPUExecutionProvider"])

    def _feed(self, *inputs: np.ndarray | None) -> dict[str, np.ndarray]:
        arrays = check_inputs(*inputs[:2], self.seq_lens, self.path, *inputs[2:], takes_types=self.takes_types)
        return {name: a.astype(self.input_dtype) for name, a in zip(self.input_names, arrays, strict=True)}

    def bind(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray | None = None
    ) -> Callable[[], np.ndarray]:
        """A call that runs one (1, L) input, converted to the model's dtype once: what a timing loop calls."""
        feed = self._feed(input_ids, attention_mask, token_type_ids)
        return lambda: self.session.run(None, feed)[0]

    def operators(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, runs: int, token_type_ids: np.ndarray | None = None
    ) -> dict:
        """Per-operator times per inference of one (1, L) input, from ONNX Runtime's profiler on a second
        session (this one's runs carry no tracing cost)."""
        feed = self._feed(input_ids, attention_mask, token_type_ids)
        with tempfile.TemporaryDirectory() as tmp:
            profiled = self._session(tmp)
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

    def close(self) -> None:
        self.session = None
