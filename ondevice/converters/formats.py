"""The output formats as data: what every other module knows about a format, said once.

Standard library only: the profiler's runner imports it under an emulated ARM64 Python that has
NumPy and the runtimes but no torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ondevice.errors import ArtifactError


@dataclass(frozen=True)
class Format:
    name: str
    extension: str
    runtime: str  # the runtime's name in profile records
    runtime_package: str  # its pip package: what bundles record the version of, what the emulator installs
    converter_packages: tuple[str, ...]  # what a bundle records the versions of, beside the runtime
    entry: str  # the method or signature name of a one-length artifact; "<entry>_<L>" with several
    # One graph with a dynamic sequence axis serves every length: the entry point's name only picks the
    # length, so it always carries one.
    one_graph: bool = False


FORMATS = {
    f.name: f
    for f in (
        Format(
            name="executorch",
            extension=".pte",
            runtime="executorch",
            runtime_package="executorch",
            converter_packages=("torch", "executorch", "torchao"),
            entry="forward",
        ),
        Format(
            name="tflite",
            extension=".tflite",
            runtime="litert",
            runtime_package="ai-edge-litert",
            converter_packages=("litert-torch", "ai-edge-quantizer"),
            entry="serving_default",
        ),
        Format(
            name="onnx",
            extension=".onnx",
            runtime="onnxruntime",
            runtime_package="onnxruntime",
            converter_packages=("torch", "onnx", "onnxruntime"),
            entry="forward",
            one_graph=True,
        ),
    )
}

INPUT_NAMES = ("input_ids", "attention_mask")
PAIR_INPUT = "token_type_ids"  # the third input of a model of sentence pairs that has token types
# Models converted from positional arguments (litert-torch's stock export) name their inputs by position.
POSITIONAL_INPUT_NAMES = ("args_0", "args_1")
ONNX_SEQ_LENS_KEY = "ondevice.seq_lens"  # ONNX model property: the lengths asked for at export, "16,32"


def input_names(token_types: bool) -> tuple[str, ...]:
    """An artifact's inputs, in order: the ids and the mask, and the token types of a pair model that has them."""
    return INPUT_NAMES + (PAIR_INPUT,) if token_types else INPUT_NAMES


def format_of(path: Path) -> str:
    """The format of an artifact, by its file extension."""
    for f in FORMATS.values():
        if Path(path).suffix == f.extension:
            return f.name
    raise ArtifactError(f"{path}: not a .pte, .tflite or .onnx file")


def entry_point(fmt: str, seq_lens, length: int) -> str:
    """The method or signature name an artifact of ``fmt`` with lengths ``seq_lens`` runs ``length`` tokens by."""
    f = FORMATS[fmt]
    return f"{f.entry}_{length}" if f.one_graph or len(seq_lens) > 1 else f.entry


def length_asked(method: str) -> int | None:
    """L from an entry-point name that ends in ``_<L>`` (``forward_32``): runners take such a name, when
    the artifact has no entry point of that name, to mean the one that takes L tokens."""
    m = re.fullmatch(r".+_(\d+)", method)
    return int(m.group(1)) if m else None
