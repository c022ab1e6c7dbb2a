"""What the runners share: file header checks, input checks and the choice of length. NumPy only, no torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ondevice.converters.formats import length_asked
from ondevice.errors import ArtifactError


def check_flatbuffer(path: Path, identifier: bytes, what: str) -> tuple[bytes, int]:
    """Check a flatbuffer file's identifier and root offset before any runtime sees it.

    Returns:
        (the file's first 64 bytes, its size). Only those are read: a runner's memory and load time
        stay the runtime's own.
    """
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: no such file")
    with open(path, "rb") as f:
        head = f.read(64)
    size = path.stat().st_size
    if len(head) < 16 or head[4:8] != identifier:
        raise ArtifactError(f"{path}: not a {what} file (bad header), or truncated")
    root = int.from_bytes(head[:4], "little")
    if root >= size:
        raise ArtifactError(f"{path}: truncated {what} file")
    return head, size


def check_inputs(
    input_ids: np.ndarray,
    attention_mask: np.ndarray,
    seq_lens: list[int],
    path: Path,
    token_type_ids: np.ndarray | None = None,
    takes_types: bool = False,
) -> list[np.ndarray]:
    """The arrays an artifact takes, in its input order, after checking their shapes.

    An artifact of a pair model takes token types too; given none, every token is of the first
    segment (zeros), which is what one text is and all a timing loop needs.
    """
    arrays = [input_ids, attention_mask]
    if token_type_ids is not None and not takes_types:
        raise ArtifactError(f"{path}: takes no token types (it is not a model of sentence pairs with token types)")
    if takes_types:
        arrays.append(np.zeros_like(input_ids) if token_type_ids is None else token_type_ids)
    if input_ids.ndim != 2 or any(a.shape != input_ids.shape for a in arrays):
        raise ArtifactError(f"{path}: inputs must be {len(arrays)} (B, L) arrays of the same shape")
    if input_ids.shape[1] not in seq_lens:
        takes = " or ".join(map(str, seq_lens))
        raise ArtifactError(f"{path}: takes sequences of {takes} tokens, got {input_ids.shape[1]}")
    return arrays


def run_rows(fn, *arrays: np.ndarray) -> np.ndarray:
    """Run a batch-1 artifact over every row of a batch of inputs."""
    return np.concatenate([fn(*(a[i : i + 1] for a in arrays)) for i in range(len(arrays[0]))])


class RowRunner:
    """``run`` for a runner of batch-1 artifacts, through its ``bind``: every row of a batch alone, as the
    phone runs it. The runner sets ``seq_lens``, ``path`` and ``takes_types``."""

    def run(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray | None = None
    ) -> np.ndarray:
        """float32 logits (B, labels) for a batch of inputs at one of the artifact's lengths."""
        arrays = check_inputs(
            input_ids, attention_mask, self.seq_lens, self.path, token_type_ids, takes_types=self.takes_types
        )
        return run_rows(lambda *row: self.bind(*row)(), *arrays)


def pick_length(seq_lens: list[int], n_tokens: int) -> int:
    """The smallest of an artifact's lengths that holds ``n_tokens``; the longest if none does."""
    for n in sorted(seq_lens):
        if n >= n_tokens:
            return n
    return max(seq_lens)


def pick_entry_point(path: Path, lengths: dict[str, int], method: str | None, kind: str) -> str:
    """The one entry point to load of those in ``lengths`` ({name: tokens it takes}): ``method`` by name,
    else the one that takes the length its name ends in (``forward_32``), or the shortest without one."""
    if not lengths:
        raise ArtifactError(f"{path}: has no {kind}s")
    if method is None:
        return min(lengths, key=lengths.__getitem__)
    if method in lengths:
        return method
    n = length_asked(method)
    found = next((name for name, length in lengths.items() if length == n), None)
    if found is None:
        raise ArtifactError(f"{path}: no {kind} {method!r}; it has {', '.join(sorted(lengths))}")
    return found
