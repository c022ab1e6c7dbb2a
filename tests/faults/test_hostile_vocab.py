"""Fault table: a vocabulary-pruning step (`kind = "vocab"`) that cannot be done. A model whose tokenizer
is not WordPiece, and training data that produces no word piece, are refused in one line that says why,
with nothing written. (A vocab step with an unknown field is a recipe fault: test_hostile_settings.)
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest
from harness import SST2_SAMPLE, Case, check

RECIPE = '[[step]]\nkind = "vocab"\n'


def compress_vocab(data: Path | str, model: Path, ws: Path) -> list[str]:
    (ws / "r.toml").write_text(RECIPE)
    return ["compress", str(model), "--recipe", "r.toml", "--data", str(data), "--dev", str(data), "--out", "out"]


def bpe_model(ckpt: Path, ws: Path) -> list[str]:
    """The tiny checkpoint with a byte-level BPE tokenizer (trained on SST-2 text) in place of its WordPiece one."""
    from tokenizers import ByteLevelBPETokenizer

    model = Path(shutil.copytree(ckpt, ws / "model"))
    texts = [line.split("\t", 1)[1] for line in SST2_SAMPLE.read_text(encoding="utf-8").splitlines()[1:]]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=400, special_tokens=["<s>", "<pad>", "</s>", "<unk>"])
    bpe.save(str(model / "tokenizer.json"))
    settings = json.loads((model / "tokenizer_settings.json").read_text())
    settings |= {"kind": "BPE", "cls_token": "<s>", "sep_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
    (model / "tokenizer_settings.json").write_text(json.dumps(settings))
    return compress_vocab(SST2_SAMPLE, Path("model"), ws)


def pieceless_data(ckpt: Path, ws: Path) -> list[str]:
    """Texts of zero-width spaces only: BERT's normalizer removes them, leaving no word."""
    (ws / "d.tsv").write_text("label\tcontent\n0\t\u200b\n1\t\u200b \u200b\n", encoding="utf-8")
    return compress_vocab("d.tsv", ckpt, ws)


CASES = [
    Case("vocab", "a BPE tokenizer", bpe_model, "tokenizer is BPE; vocabulary pruning supports WordPiece", 2),
    Case("vocab", "data without word pieces", pieceless_data, "produce no word piece besides the special tokens", 1),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_vocab_fault(case: Case, tiny_checkpoint: Path, workspace: Path) -> None:
    check(replace(case, argv=partial(case.argv, tiny_checkpoint)), workspace)
