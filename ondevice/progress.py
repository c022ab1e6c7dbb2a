"""Progress bars on stderr. On by default; ONDEVICE_PROGRESS=0 turns them off."""

from __future__ import annotations

import os
import sys
from typing import Iterable, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def enabled() -> bool:
    return os.environ.get("ONDEVICE_PROGRESS", "1").lower() not in ("0", "", "false", "no")


def progress(iterable: Iterable[T] | None = None, **kwargs) -> tqdm:
    # Redirected stderr (a log file, CI) gets an update every few seconds, not a stream of \r lines.
    interactive = sys.stderr.isatty()
    kwargs.setdefault("mininterval", 0.1 if interactive else 5.0)
    return tqdm(iterable, file=sys.stderr, disable=not enabled(), dynamic_ncols=True, leave=interactive, **kwargs)
