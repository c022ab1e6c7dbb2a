"""TFLite / LiteRT, the run half: a .tflite on ai-edge-litert's interpreter (tflite_runtime on small ARM devices).

NumPy and the runtime only, no torch: the profiler's runner loads it under an emulated ARM64 Python too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from ondevice.converters.formats import FORMATS, INPUT_NAMES, POSITIONAL_INPUT_NAMES, input_names
from ondevice.converters.inputs import RowRunner, check_flatbuffer, check_inputs, pick_entry_point
from ondevice.errors import ArtifactError

try:
    import ai_edge_litert as litert
    from ai_edge_litert.interpreter import Interpreter
except ImportError:  # small ARM Linux devices
    import tflite_runtime as litert
    from tflite_runtime.interpreter import Interpreter


# The input names a signature may have, in the order the runner feeds them: by name, or by position
# for a model converted from positional arguments (litert-torch's stock export); a pair model's third.
INPUT_LAYOUTS = (
    INPUT_NAMES,
    input_names(True),
    POSITIONAL_INPUT_NAMES,
    (*POSITIONAL_INPUT_NAMES, "args_2"),
)


def check_file(path: Path) -> None:
    check_flatbuffer(path, b"TFL3", "TFLite .tflite")


class Runner(RowRunner):
    """Runs a .tflite's signatures, one per sequence length.

    Args:
        path: the .tflite file.
        threads: the interpreter's threads.
        method: a signature to run alone, by name or by the length its name ends in (``forward_32``: the
            signature that takes 32 tokens, whatever its name); None: every signature.
        every: without ``method``, False runs the shortest signature alone.
    """

    format = "tflite"
    runtime = {"name": FORMATS[format].runtime, "version": getattr(litert, "__version__", "unknown")}

    def __init__(self, path: Path, threads: int = 2, method: str | None = None, every: bool = True):
        check_file(path)
        self.path = Path(path)
        self.threads = threads
        signatures = {}  # name -> (signature runner, its inputs' names: ids first)
        try:
            self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
            for name in self.interpreter.get_signature_list():
                runner = self.interpreter.get_signature_runner(name)
                details = runner.get_input_details()
                # Inputs by name, or by position for a model converted from positional arguments.
                names = next((n for n in INPUT_LAYOUTS if set(details) == set(n)), None)
                if names is None:
                    raise ArtifactError(
                        f"{path}: expected inputs input_ids and attention_mask (and token_type_ids), "
                        f"found {sorted(details)}"
                    )
                signatures[name] = (runner, names, details[names[0]])
        except (ValueError, RuntimeError) as e:
            raise ArtifactError(f"{path}: LiteRT cannot load it: {str(e).splitlines()[0]}") from None
        lengths = {name: int(ids["shape"][1]) for name, (_, _, ids) in signatures.items()}
        if method is not None or not every:
            name = pick_entry_point(path, lengths, method, "signature")
            lengths = {name: lengths[name]}
        elif not lengths:
            raise ArtifactError(f"{path}: has no signatures")
        self.signatures = {n: signatures[name] for name, n in lengths.items()}
        self.entry_points = {n: name for name, n in lengths.items()}
        self.seq_lens = sorted(self.signatures)
        self.seq_len = self.seq_lens[-1]
        self.input_dtype = self.signatures[self.seq_len][2]["dtype"]
        self.takes_types = len(self.signatures[self.seq_len][1]) == 3  # a pair model's token_type_ids
        self.input_names = input_names(self.takes_types)

    def _feed(self, *inputs: np.ndarray | None) -> dict[str, np.ndarray]:
        arrays = check_inputs(*inputs[:2], self.seq_lens, self.path, *inputs[2:], takes_types=self.takes_types)
        names = self.signatures[arrays[0].shape[1]][1]
        return {name: a.astype(self.input_dtype) for name, a in zip(names, arrays, strict=True)}

    def bind(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray | None = None
    ) -> Callable[[], np.ndarray]:
        """A call that runs one (1, L) input, converted to the model's dtype once: what a timing loop calls."""
        feed = self._feed(input_ids, attention_mask, token_type_ids)
        runner = self.signatures[input_ids.shape[1]][0]
        q = next(iter(runner.get_output_details().values()))["quantization_parameters"]

        def call() -> np.ndarray:
            logits = next(iter(runner(**feed).values()))
            if logits.dtype == np.float32:
                return logits
            # A full-integer model's logits are int8: dequantize with the tensor's own scale and zero point.
            return (logits.astype(np.float32) - int(q["zero_points"][0])) * float(q["scales"][0])

        return call

    def operators(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, runs: int, token_type_ids: np.ndarray | None = None
    ) -> dict | None:
        """Per-operator times per inference of one (1, L) input from LiteRT's profiler, which runs a second,
        compiled copy of the model (this interpreter carries no tracing). None where the wheel has no
        ``libLiteRt.so``; an ``error`` where its C API lacks the profiler."""
        from ondevice.profile import litert_ops

        length = input_ids.shape[1]
        feed = self._feed(input_ids, attention_mask, token_type_ids)
        try:
            return litert_ops.operators(str(self.path), self.entry_points[length], feed, self.threads, runs)
        except (OSError, AttributeError, litert_ops.LiteRtError) as e:  # a LiteRT without this C API
            return {"source": "litert profiler", "runs": runs, "ops": [], "error": str(e)}

    def close(self) -> None:
        self.signatures = self.interpreter = None
