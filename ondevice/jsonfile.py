"""Reading the project's JSON files (manifests, configs, result records) with one kind of error message."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def read_json(path: Path, error: type[Exception], missing: str | None = None):
    """The parsed contents of ``path``; ``error`` with a one-line message when it is absent or not JSON.

    Args:
        path: the file.
        error: the exception class to raise (an OndeviceError subclass).
        missing: the message when the file does not exist (default: "<path>: no such file").
    """
    path = Path(path)
    if not path.is_file():
        raise error(missing or f"{path}: no such file")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise error(f"{path} is not valid JSON: {e}") from None


def write_text_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename: never half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: Path, data) -> Path:
    """Write ``data`` as indented JSON, atomically (see ``write_text_atomic``)."""
    return write_text_atomic(path, json.dumps(data, indent=2) + "\n")
