"""ExecuTorch, the run half: a .pte on ExecuTorch's Python runtime (portable, optimized and quantized
kernels + XNNPACK).

ExecuTorch's pybindings load torch and take torch tensors, so unlike the other run halves this one
needs torch. That is no loss: a .pte never runs under the profiler's emulated ARM64 Python (which has
no usable torch); there the native runner (``ondevice/profile/cpp/runner.cpp``) runs it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

import executorch.kernels.quantized  # noqa: F401  registers the quantized_decomposed kernels
import numpy as np
from executorch.extension.pybindings import portable_lib
from executorch.runtime import Runtime
from executorch.version import __version__

from ondevice.converters.formats import FORMATS, input_names
from ondevice.converters.inputs import RowRunner, check_flatbuffer, check_inputs, pick_entry_point
from ondevice.errors import ArtifactError


def check_file(path: Path) -> None:
    """A .pte's flatbuffer identifier and its extended header's sizes, checked before loading."""
    head, size = check_flatbuffer(path, b"ET12", "ExecuTorch .pte")
    if head[8:12] == b"eh00":
        program_size = int.from_bytes(head[16:24], "little")
        segment_base = int.from_bytes(head[24:32], "little")
        segment_size = int.from_bytes(head[32:40], "little")
        expected = segment_base + segment_size if segment_size else program_size
        if size < expected:
            raise ArtifactError(f"{path}: truncated .pte ({size} bytes, its header says {expected})")


class Runner(RowRunner):
    """Runs a .pte's forward methods, one per sequence length.

    Args:
        path: the .pte file.
        threads: the threads of ExecuTorch's thread pool (shared by the whole process).
        method: a method to load alone, by name or by the length its name ends in (``forward_32``);
            None: every forward method.
        every: without ``method``, False loads the shortest forward method alone.
        dynamic: the longest input of a program whose ``forward`` has a dynamic sequence axis (another
            tool's export; its metadata gives that upper bound): every length from 2 to it runs as it is.
    """

    format = "executorch"
    runtime = {"name": FORMATS[format].runtime, "version": __version__}

    def __init__(
        self, path: Path, threads: int = 2, method: str | None = None, every: bool = True, dynamic: int | None = None
    ):
        check_file(path)
        self.path = Path(path)
        self.threads = threads
        portable_lib._unsafe_reset_threadpool(threads)
        try:
            self.program = Runtime.get().load_program(self.path)
            # A method's metadata is read without loading it: only the methods asked for are loaded.
            names = sorted(n for n in self.program.method_names if n == "forward" or n.startswith("forward_"))
            lengths = {name: self._length(self.program.metadata(name)) for name in names}
            if method is not None or not every:
                name = pick_entry_point(path, lengths, method, "forward method")
                lengths = {name: lengths[name]}
            elif not lengths:
                raise ArtifactError(f"{path}: has no forward method")
            self.methods = {n: self.program.load_method(name) for name, n in lengths.items()}
        except RuntimeError as e:
            raise ArtifactError(f"{path}: ExecuTorch cannot load it: {str(e).splitlines()[0]}") from None
        self.entry_points = {n: name for name, n in lengths.items()}
        if dynamic:  # one method serves every length up to its bound
            if len(self.methods) != 1:
                raise ArtifactError(f"{path}: a program with a dynamic length has one forward method, not {len(names)}")
            ((bound, loaded),) = self.methods.items()
            ((_, name),) = self.entry_points.items()
            self.methods = {n: loaded for n in range(2, min(bound, dynamic) + 1)}
            self.entry_points = {n: name for n in self.methods}
        self.seq_lens = sorted(self.methods)
        self.seq_len = self.seq_lens[-1]
        # ExecuTorch's ScalarType codes: 3 is Int (int32), 4 is Long (int64).
        meta = self.methods[self.seq_len].metadata
        self.input_dtype = np.int32 if meta.input_tensor_meta(0).dtype() == 3 else np.int64
        self.takes_types = meta.num_inputs() == 3  # a pair model's token_type_ids
        self.input_names = input_names(self.takes_types)

    @staticmethod
    def _length(meta) -> int:
        return int(meta.input_tensor_meta(0).sizes()[1])

    def _feed(self, *inputs: np.ndarray | None) -> list:
        import torch  # loaded already, by ExecuTorch's pybindings

        arrays = check_inputs(*inputs[:2], self.seq_lens, self.path, *inputs[2:], takes_types=self.takes_types)
        return [torch.from_numpy(a.astype(self.input_dtype)) for a in arrays]

    def bind(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray | None = None
    ) -> Callable[[], np.ndarray]:
        """A call that runs one (1, L) input, converted to the model's dtype once: what a timing loop calls."""
        method = self.methods[input_ids.shape[1]]
        feed = self._feed(input_ids, attention_mask, token_type_ids)
        return lambda: method.execute(feed)[0].numpy()

    def operators(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, runs: int, token_type_ids: np.ndarray | None = None
    ) -> dict:
        """Per-operator times per inference of one (1, L) input, from ETDump on a second copy of the program
        (this one carries no tracing), read with ExecuTorch's Inspector. XNNPACK reports its own ops inside
        each DELEGATE_CALL; the wrapper events would count their time twice and are left out."""
        from executorch.devtools import Inspector

        feed = self._feed(input_ids, attention_mask, token_type_ids)
        traced = Runtime.get().load_program(self.path, enable_etdump=True)
        method = traced.load_method(self.entry_points[input_ids.shape[1]])
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
            name = event.split(" #")[0].removeprefix("native_call_")
            op = ops.setdefault(name, {"name": name, "count": 0, "total_ms": 0.0})
            op["count"] += 1
            op["total_ms"] += sum(row["raw"]) / len(row["raw"])
        return {"source": "executorch etdump", "runs": runs, "ops": sorted(ops.values(), key=lambda o: -o["total_ms"])}

    def close(self) -> None:
        self.methods = self.program = None
