"""The input limits shared by every reader of text (ondevice.limits)."""

import pytest

from ondevice.errors import ConfigError, DataError
from ondevice.limits import MAX_TEXT_CHARS, TextCutter, check_text, prepare_texts


def test_check_text_names_where_and_the_byte_of_an_undecodable_argument():
    check_text("plain, caf\u00e9, \U0001f600, tab\tand \x00 control", "x")  # valid Unicode: accepted
    argv = b"ok \xff".decode("utf-8", "surrogateescape")  # how Python hands over a bad argument
    with pytest.raises(ConfigError, match=r"text 2: not valid Unicode \(character 4 .*U\+DCFF, .*byte 0xff\)"):
        check_text(argv, "text 2", ConfigError)
    with pytest.raises(DataError, match=r"d.jsonl:3: not valid Unicode \(character 1 is a lone surrogate U\+D800\)"):
        check_text("\ud800", "d.jsonl:3")


def test_prepare_texts_cuts_and_notes_once(capsys):
    texts = prepare_texts(["short", "x" * (MAX_TEXT_CHARS + 1), "y" * (MAX_TEXT_CHARS * 2)])
    assert [len(t) for t in texts] == [5, MAX_TEXT_CHARS, MAX_TEXT_CHARS]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Note: 2 texts") and "(the first: text 2)" in err[0]
    prepare_texts(["short"])
    assert capsys.readouterr().err == ""


def test_prepare_texts_refuses_what_is_not_a_string():
    with pytest.raises(DataError, match="text 2: expected a string, got NoneType"):
        prepare_texts(["a", None])


def test_text_cutter_counts():
    cut = TextCutter(limit=3)
    assert cut("abcdef", "f:1") == "abc" and cut("ab", "f:2") == "ab" and cut("abcd", "f:3") == "abc"
    assert cut.count == 2 and cut.first == "f:1"


def test_tokenizer_is_the_last_line_of_defence(minilm_dir):
    from ondevice.model import Tokenizer

    tok = Tokenizer.load(minilm_dir, max_length=16)
    long = "word " * MAX_TEXT_CHARS  # 500,000 characters
    assert tok.lengths([long])[0] <= MAX_TEXT_CHARS // 5 + 2
    ids, _ = tok([long, "fine"])
    assert ids.shape == (2, 16)
    with pytest.raises(DataError, match="text 2: not valid Unicode"):
        tok(["fine", "\udcff"])
