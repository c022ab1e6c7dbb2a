"""The fast tokenizer we ship against transformers' tokenizer for the same checkpoint."""

import numpy as np
import pytest

from ondevice.data import read_dataset
from ondevice.model import Tokenizer

HARD_CASES = [
    "",
    "   ",
    "\t\n",
    "Café déjà vu — naïve résumé",
    "日本語のテキスト and 中文",
    "emoji 😀👍🏽 here",
    "control\x00chars\x07 and \u200b zero width",
    "a" * 300,
    "supercalifragilisticexpialidocious " * 5,
    "word " * 400,
    "UPPER lower MiXeD",
    "don't stop-believing!!! (really?)",
]


@pytest.mark.parametrize("source", ["package", "vocab-only"])
def test_ids_match_transformers(minilm_dir, sst2_dev, tmp_path, source):
    from transformers import AutoTokenizer

    if source == "vocab-only":  # no tokenizer.json: built from vocab.txt and tokenizer_config.json
        d = tmp_path / "vocab-only"
        d.mkdir()
        for name in ("vocab.txt", "tokenizer_config.json"):
            (d / name).write_bytes((minilm_dir / name).read_bytes())
    else:
        d = minilm_dir
    ours = Tokenizer.load(d, max_length=128)
    theirs = AutoTokenizer.from_pretrained(minilm_dir)
    texts = read_dataset(sst2_dev).texts + HARD_CASES
    ids, mask = ours(texts)
    ref = theirs(texts, padding="max_length", truncation=True, max_length=128, return_tensors="np")
    np.testing.assert_array_equal(ids, ref["input_ids"])
    np.testing.assert_array_equal(mask, ref["attention_mask"])


def test_settings_saved_for_the_app(minilm_dir, tmp_path):
    tok = Tokenizer.load(minilm_dir)
    tok.save(tmp_path)
    back = Tokenizer.load(tmp_path)
    assert back.settings == tok.settings
    assert back.settings.lowercase is True
    assert (back.settings.cls_id, back.settings.sep_id, back.settings.pad_id, back.settings.unk_id) == (
        101,
        102,
        0,
        100,
    )
    vocab = (tmp_path / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert len(vocab) == 30522 and vocab[101] == "[CLS]"


@pytest.mark.parametrize(
    "settings,message",
    [
        ("[]", "the settings must be a JSON object, not a list"),
        ("null", "the settings must be a JSON object, not null"),
        ('{"lowercase": "yes"}', 'lowercase must be true or false, not "yes"'),
        ('{"strip_accents": 0}', "strip_accents must be true or false or null, not 0"),
        ('{"max_length": 0}', "max_length must be a positive integer, not 0"),
        ('{"cls_id": -1}', "cls_id must be a non-negative integer, not -1"),
        ('{"cls_token": ""}', 'cls_token must be a non-empty string, not ""'),
        ('{"lowercse": true}', "'lowercse' is not a tokenizer setting"),
        ("{", "is not valid JSON"),
    ],
)
def test_a_settings_file_of_the_wrong_shape_is_one_line(minilm_dir, tmp_path, settings, message):
    from ondevice.errors import CheckpointError

    (tmp_path / "vocab.txt").write_bytes((minilm_dir / "vocab.txt").read_bytes())
    (tmp_path / "tokenizer_settings.json").write_text(settings)
    with pytest.raises(CheckpointError) as e:
        Tokenizer.load(tmp_path)
    assert message in str(e.value) and "tokenizer_settings.json" in str(e.value) and "\n" not in str(e.value)


def test_settings_round_trip_through_from_dict():
    from dataclasses import asdict

    from ondevice.model.tokenizer import TokenizerSettings

    s = TokenizerSettings(lowercase=False, strip_accents=None, max_length=64, continuing_subword_prefix="")
    assert TokenizerSettings.from_dict(asdict(s), "x") == s
    assert TokenizerSettings.from_dict({}, "x") == TokenizerSettings()
