"""Fault table: a vocabulary-pruning step (`kind = "vocab"`) that cannot be done. Training data that
produces no word piece (nothing left once normalized, or nothing but the special tokens written out) is
refused in one line that says why, with nothing written. (A vocab step with an unknown field is a recipe
fault: test_hostile_settings.)
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest
from harness import Case, check

RECIPE = '[[step]]\nkind = "vocab"\n'


def compress_vocab(data: Path | str, model: Path, ws: Path) -> list[str]:
    (ws / "r.toml").write_text(RECIPE)
    return ["compress", str(model), "--recipe", "r.toml", "--data", str(data), "--dev", str(data), "--out", "out"]


def specials_only(ckpt: Path, ws: Path) -> list[str]:
    """Texts that are the model's special tokens written out: they are matched whole, leaving no word piece."""
    (ws / "d.tsv").write_text("label\tcontent\n0\t[CLS] [SEP]\n1\t[PAD][UNK] [MASK]\n", encoding="utf-8")
    return compress_vocab("d.tsv", ckpt, ws)


def pieceless_data(ckpt: Path, ws: Path) -> list[str]:
    """Texts of zero-width spaces only: BERT's normalizer removes them, leaving no word."""
    (ws / "d.tsv").write_text("label\tcontent\n0\t\u200b\n1\t\u200b \u200b\n", encoding="utf-8")
    return compress_vocab("d.tsv", ckpt, ws)


CASES = [
    Case("vocab", "texts of special tokens only", specials_only, "produce no word piece besides the special tokens", 1),
    Case("vocab", "data without word pieces", pieceless_data, "produce no word piece besides the special tokens", 1),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_vocab_fault(case: Case, tiny_checkpoint: Path, workspace: Path) -> None:
    check(replace(case, argv=partial(case.argv, tiny_checkpoint)), workspace)
