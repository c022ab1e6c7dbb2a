"""Exporters and runners, one pair of modules per output format (ExecuTorch, TFLite/LiteRT, ONNX).

Format-specific code lives here and nowhere else in the project, in two halves per format:

- the export half ``<fmt>.py`` (needs torch and the converters):
  ``export(model, path, options) -> dict`` writes the artifact (atomically) and returns facts about it
  (converter versions, quantization, delegation) for the manifest;
- the run half ``<fmt>_runtime.py`` (NumPy and that format's runtime, no torch, so that the profiler's
  runner loads it under an emulated ARM64 Python too; ExecuTorch's pybindings bring their own torch):
  ``check_file(path)``, and ``Runner(path, threads)``, which loads an artifact in its runtime;
  ``run(input_ids, attention_mask)`` returns float32 logits as a NumPy array.

What the rest of the project knows about a format (extension, runtime and converter packages,
entry-point names, metadata keys) is one table, ``formats``. This module imports the halves only when
asked, so that importing it needs neither torch nor any runtime.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ondevice.converters.formats import FORMATS, format_of
from ondevice.errors import ConfigError

__all__ = ["FORMATS", "format_of", "module", "runtime", "open_runner"]


def _check(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def module(fmt: str):
    """The export half of a format name."""
    _check(fmt)
    return importlib.import_module(f"ondevice.converters.{fmt}")


def runtime(fmt: str):
    """The run half of a format name."""
    _check(fmt)
    return importlib.import_module(f"ondevice.converters.{fmt}_runtime")


def open_runner(path: Path, threads: int = 2):
    """A runner for an artifact, chosen by its file extension."""
    return runtime(format_of(path)).Runner(Path(path), threads=threads)
