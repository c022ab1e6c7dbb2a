"""`--target android`'s tokenizer check (``ondevice.app_tokenizer``) gives the app's own verdict.

Each tokenizer.json below, a real one or a real one with one part swapped, is read by the app's Java
core (``tokenize.sh``, the core's TokenizeMain) and judged by ``app_refusal``: both must accept it or
both refuse it. Then an export for android refuses what the app would refuse, naming the part.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from ondevice.app_tokenizer import app_refusal
from ondevice.cli import cli

TOKENIZE = Path(__file__).resolve().parents[2] / "android_demo" / "core" / "tokenize.sh"


@pytest.fixture(scope="module")
def java(tmp_path_factory):
    if shutil.which("javac") is None:
        pytest.skip("the app core's tests need a JDK: run `ondevice setup`")
    build = tmp_path_factory.mktemp("core-build")

    def verdict(tj: dict, where: Path) -> tuple[bool, str]:
        path = where / "tokenizer.json"
        path.write_text(json.dumps(tj), encoding="utf-8")
        done = subprocess.run(
            ["sh", str(TOKENIZE), "--max-length", "16", str(path)],
            input="a gorgeous , witty movie .\n",
            capture_output=True,
            text=True,
            env={"ONDEVICE_CORE_BUILD": str(build), "PATH": "/usr/bin:/bin"},
            timeout=300,
        )
        return done.returncode == 0, done.stderr.strip()

    return verdict


def _trained(kind: str, texts: list[str]) -> dict:
    """A small BPE or Unigram tokenizer trained on SST-2 text, with the post-processor RoBERTa's and
    XLM-R's checkpoints carry."""
    from tokenizers import ByteLevelBPETokenizer, SentencePieceUnigramTokenizer, normalizers, processors

    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    if kind == "BPE":
        tok = ByteLevelBPETokenizer()
        tok.train_from_iterator(texts, vocab_size=400, special_tokens=specials)
    else:
        tok = SentencePieceUnigramTokenizer()
        tok.train_from_iterator(texts, vocab_size=400, special_tokens=specials, unk_token="<unk>")
        tok._tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(" {2,}", " ")])
    tok._tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    return json.loads(tok._tokenizer.to_str())


def _variants(minilm_dir: Path, sst2_train: Path) -> dict[str, dict]:
    texts = [line.split("\t", 1)[1] for line in sst2_train.read_text(encoding="utf-8").splitlines()[1:3000]]
    base = {
        "WordPiece": json.loads((minilm_dir / "tokenizer.json").read_text(encoding="utf-8")),
        "BPE": _trained("BPE", texts),
        "Unigram": _trained("Unigram", texts),
    }

    def swap(kind: str, **parts) -> dict:
        tj = copy.deepcopy(base[kind])
        for key, value in parts.items():
            if key == "dropout":
                tj["model"]["dropout"] = value
            else:
                tj[key] = value
        return tj

    single_word = copy.deepcopy(base["WordPiece"])
    single_word["added_tokens"][0]["single_word"] = True
    return {
        **base,
        "WordPiece, NFC normalizer": swap("WordPiece", normalizer={"type": "NFC"}),
        "WordPiece, Whitespace pre-tokenizer": swap("WordPiece", pre_tokenizer={"type": "Whitespace"}),
        "WordPiece, no post-processor": swap("WordPiece", post_processor=None),
        "WordPiece, single-word added token": single_word,
        "BPE, dropout": swap("BPE", dropout=0.1),
        "BPE, Whitespace pre-tokenizer": swap("BPE", pre_tokenizer={"type": "Whitespace"}),
        "BPE, Nmt normalizer": swap("BPE", normalizer={"type": "Nmt"}),
        "BPE, NFKC normalizer": swap("BPE", normalizer={"type": "NFKC"}),
        "Unigram, Replace of a class": swap(
            "Unigram", normalizer={"type": "Replace", "pattern": {"Regex": "[0-9]+"}, "content": "0"}
        ),
        "Unigram, ByteLevel pre-tokenizer": swap("Unigram", pre_tokenizer={"type": "ByteLevel"}),
    }


def test_the_check_and_the_app_agree(minilm_dir, sst2_train, java, tmp_path):
    verdicts = {}
    for name, tj in _variants(minilm_dir, sst2_train).items():
        where = tmp_path / name.replace(" ", "_").replace(",", "")
        where.mkdir()
        app_runs, app_says = java(tj, where)
        why = app_refusal(tj)
        verdicts[name] = (app_runs, why)
        assert app_runs == (why is None), f"{name}: the app {'runs' if app_runs else 'refuses'} it ({app_says}); {why}"
    runs = [name for name, (ok, _) in verdicts.items() if ok]
    assert runs == ["WordPiece", "BPE", "Unigram", "BPE, NFKC normalizer"]


def test_android_export_refuses_what_the_app_cannot_run(minilm_dir, tiny_bert_dir, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny_bert_dir, model)
    tj = json.loads((model / "tokenizer.json").read_text(encoding="utf-8"))
    tj["pre_tokenizer"] = {"type": "Whitespace"}
    (model / "tokenizer.json").write_text(json.dumps(tj), encoding="utf-8")
    r = CliRunner().invoke(cli, ["export", str(model), "--target", "android", "--out", str(tmp_path / "b")])
    assert r.exit_code == 2
    assert "its pre_tokenizer is Whitespace; with WordPiece the app implements BertPreTokenizer" in r.output
    assert "--target host or linux-arm64" in r.output
    assert not (tmp_path / "b").exists()
