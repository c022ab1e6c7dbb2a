"""Fault table: `ondevice search` and `ondevice report SEARCH_DIR` given what a user gets wrong: a search
space file broken as hand-written TOML breaks, bounds and objectives that mean nothing, a Ray head
that is not there, an --out that holds something else, a resume of another search. Each is refused in
one line before any cluster starts or any trial runs. (A budget no trial meets, a failing trial and a
resume of a different model or space after a real search are in tests/search/test_search.py.)
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from harness import SST2_SAMPLE, Case, check

SPACE = """name = "s"
seq_len = 32

[[step]]
kind = "prune"
heads = {low = 0.0, high = 0.5}

[export]
seq_lens = [32]
"""


def search(*extra: str, space: str | bytes | None = None, setup=None):
    """``search --data SAMPLE --out out`` (with ``space`` as ./s.toml, and ``setup(ws)`` run first)."""

    def make(ws: Path) -> list[str]:
        argv = ["search", "default", "--data", str(SST2_SAMPLE), "--out", "out", "--trials", "1"]
        if space is not None:
            (ws / "s.toml").write_bytes(space.encode() if isinstance(space, str) else space)
            argv += ["--space", "s.toml"]
        if setup:
            setup(ws)
        return argv + list(extra)

    return make


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when this returns: nothing listens there


def other_search(ws: Path) -> None:
    """An --out made by a search of another model (its fingerprint differs)."""
    (ws / "out").mkdir()
    meta = {"format": "ondevice-search", "model": {"spec": "other", "sha256": "0" * 64}}
    (ws / "out" / "search.json").write_text(json.dumps(meta))


def not_a_search(ws: Path) -> None:
    """An --out that holds a user's own files."""
    (ws / "out").mkdir()
    (ws / "out" / "notes.txt").write_text("mine\n")


def broken_search_dir(ws: Path) -> None:
    """A search directory whose search.json was cut off."""
    (ws / "old").mkdir()
    (ws / "old" / "search.json").write_text('{"format": "ondevice-search", "budget": ')


CASES = [
    Case("search", "space not TOML", search(space='name = "x"\n[[step\n'), "not valid TOML"),
    Case("search", "space not UTF-8", search(space=b"name = '\xff'\n"), "s.toml"),
    Case("search", "space missing", search("--space", "nope.toml"), "nope.toml"),
    Case("search", "space with no steps", search(space='name = "x"\n'), "[[step]]"),
    Case(
        "search",
        "space step with an unknown field",
        search(space=SPACE.replace("heads =", "hedas =")),
        "unknown field hedas; valid fields: optional, calibration_size, group_size, heads",
    ),
    Case("search", "space step of an unknown kind", search(space=SPACE.replace('"prune"', '"quantum"')), "quantum"),
    Case("search", "space unknown top-level key", search(space="trials = 3\n" + SPACE), "trials"),
    Case(
        "search",
        "space range upside down",
        search(space=SPACE.replace("low = 0.0, high = 0.5", "low = 0.5, high = 0.0")),
        "low <= high",
    ),  # fmt: skip
    Case("search", "space range without high", search(space=SPACE.replace(", high = 0.5", "")), "range"),
    Case("search", "space range of words", search(space=SPACE.replace("low = 0.0", 'low = "none"')), "numbers"),
    Case(
        "search",
        "space choice the technique refuses",
        search(space=SPACE.replace("{low = 0.0, high = 0.5}", "[0.25, 1.5]")),
        "heads",
    ),  # fmt: skip
    Case("search", "space empty choice", search(space=SPACE.replace("{low = 0.0, high = 0.5}", "[]")), "no choices"),
    Case(
        "search",
        "space optional not a flag",
        search(space=SPACE.replace('"prune"\n', '"prune"\noptional = "yes"\n')),
        "optional",
    ),  # fmt: skip
    Case(
        "search", "space export unknown field", search(space=SPACE + "bits = 4\n"), "unknown field bits; valid fields"
    ),
    Case("search", "space export unknown quantization", search(space=SPACE + 'quantization = "int3"\n'), "int3"),
    Case("search", "space export lengths past seq_len", search(space=SPACE.replace("[32]", "[32, 64]")), "seq_len"),
    Case(
        "search",
        "space of 4-bit embeddings exported int8-static only",
        search(
            space=SPACE + 'quantization = "int8-static"\n[[step]]\nkind = "mixed_precision"\nsize_budget = 1.0\n'
            "embedding_bits = [4, 8]\n"
        ),
        "export with quantization int8-dynamic only",
    ),  # fmt: skip
    Case("search", "objectives unknown", search("--objectives", "size,beauty"), "--objectives"),
    Case("search", "objectives twice", search("--objectives", "size,size"), "distinct"),
    Case("search", "size budget zero", search("--max-size-mb", "0"), "--max-size-mb"),
    Case("search", "accuracy drop over one", search("--max-accuracy-drop", "5"), "--max-accuracy-drop"),
    Case("search", "no trials", search("--trials", "0"), "--trials"),
    Case("search", "no trial steps", search("--trial-steps", "0"), "--trial-steps"),
    Case("search", "trial steps not a number", search("--trial-steps", "many"), "--trial-steps"),
    Case("search", "unknown format", search("--format", "coreml"), "coreml"),
    Case("search", "unknown target", search("--target", "toaster"), "toaster"),
    Case("search", "ray address malformed", search("--ray-address", "nohost"), "HOST:PORT"),
    Case(
        "search",
        "ray address nothing listens",
        lambda ws: search("--ray-address", f"127.0.0.1:{closed_port()}")(ws),
        "no Ray head answers",
    ),  # fmt: skip
    Case("search", "out holds something else", search(setup=not_a_search), "--resume"),
    Case("search", "resume with nothing there", search("--resume"), "holds no search"),
    Case(
        "search", "resume of another model's search", search("--resume", setup=other_search), "another model"
    ),  # fmt: skip
    Case("search", "finish with nothing there", search("--finish"), "holds no search"),
    Case("search", "validation split larger than the data", search("--val-size", "150"), "--val-size"),
    Case(
        "search",
        "report of a broken search directory",
        lambda ws: broken_search_dir(ws) or ["report", "old"],
        "search.json",
    ),  # fmt: skip
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_search_fault(case, workspace):
    check(case, workspace)
