"""Reading the project's JSON files (manifests, configs, result records) with one kind of error message.

Writing them goes through ``ondevice.output``."""

from __future__ import annotations

import json
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
    except RecursionError:  # "[[[[...": deeper than Python's parser goes
        raise error(f"{path} is not valid JSON: nested too deeply") from None
    except OSError as e:
        raise error(f"{path} cannot be read: {e.strerror or e}") from None
