"""Exporters and host runners, one module per output format (ExecuTorch, TFLite/LiteRT, ONNX).

Format-specific code lives here and nowhere else in the project. Every format module offers the
same two things:

- ``export(model, path, options) -> dict``: write the artifact (atomically) and return facts about
  it (converter versions, quantization, delegation) for the manifest;
- ``Runner(path, threads)``: load an artifact in its own runtime; ``run(input_ids, attention_mask)``
  returns logits as a NumPy array.
"""

from __future__ import annotations

import importlib
from pathlib import Path

FORMATS = {"executorch": ".pte", "tflite": ".tflite", "onnx": ".onnx"}


def module(fmt: str):
    """The converter module of a format name."""
    from ondevice.errors import ConfigError

    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return importlib.import_module(f"ondevice.converters.{fmt}")


def format_of(path: Path) -> str:
    from ondevice.errors import ArtifactError

    for fmt, ext in FORMATS.items():
        if Path(path).suffix == ext:
            return fmt
    raise ArtifactError(f"{path}: not a .pte, .tflite or .onnx file")


def open_runner(path: Path, threads: int = 2):
    """A host runner for an artifact, chosen by its file extension."""
    return module(format_of(path)).Runner(Path(path), threads=threads)
