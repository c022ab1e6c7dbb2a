import json

import pytest

from ondevice.data import read_dataset
from ondevice.errors import DataError


def test_sst2_train_and_dev_headers_differ_but_both_read(sst2_train, sst2_dev):
    dev = read_dataset(sst2_dev, ["negative", "positive"])
    assert len(dev) == 872
    assert dev.examples[0].text == "one long string of cliches ."
    train = read_dataset(sst2_train)
    assert len(train) == 67349 and train.labels == ["0", "1"]
    assert set(train.targets) == {0, 1}


def test_tsv_without_header_and_with_label_names(tmp_path):
    f = tmp_path / "d.tsv"
    f.write_text("positive\tgreat fun\nnegative\tawful\npositive\tloved it\n")
    d = read_dataset(f)
    assert d.labels == ["negative", "positive"]
    assert d.targets == [1, 0, 1]
    # With the model's labels, names and indices are both accepted.
    f.write_text("1\tgreat fun\nnegative\tawful\n")
    assert read_dataset(f, ["negative", "positive"]).targets == [1, 0]


def test_csv_with_quotes_and_header(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text('label,text\n1,"good, really good"\n0,"bad ""very"" bad"\n')
    d = read_dataset(f)
    assert d.texts == ["good, really good", 'bad "very" bad']
    assert d.targets == [1, 0]


def test_jsonl(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in [{"text": "fine", "label": "pos"}, {"text": "meh", "label": "neg"}]))
    d = read_dataset(f)
    assert d.labels == ["neg", "pos"] and d.targets == [1, 0]


@pytest.mark.parametrize(
    "name,content,match",
    [
        ("empty.tsv", b"", "empty"),
        ("blank.tsv", b"\n\n  \n", "empty"),
        ("header-only.tsv", b"label\tsentence\n", "no labelled rows"),
        ("unknown.tsv", b"0\tfine\n1\tgood\n7\tstrange\n", r"unknown.tsv:3: unknown label '7'"),
        ("onecol.tsv", b"0\tfine\n1\n", r"onecol.tsv:2: expected two columns"),
        ("latin1.tsv", b"0\tfine\n1\tcaf\xe9\n", r"latin1.tsv:2: not UTF-8"),
        ("bad.jsonl", b'{"text": "a", "label": 0}\n{"text": "b"}\n', r"bad.jsonl:2: missing field 'label'"),
        ("broken.jsonl", b'{"text": "a", "label": 0}\n{oops\n', r"broken.jsonl:2: not valid JSON"),
        ("data.parquet", b"PAR1", "unknown data format"),
    ],
)
def test_bad_files_name_the_problem_and_line(tmp_path, name, content, match):
    f = tmp_path / name
    f.write_bytes(content)
    with pytest.raises(DataError, match=match) as e:
        read_dataset(f, ["0", "1"] if name == "unknown.tsv" else None)
    assert "\n" not in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_dataset(tmp_path / "nope.tsv")


# --- Limits, streaming, columns, Unicode and the label policy (issue 17) ---


def test_a_text_past_the_character_limit_is_cut_with_one_note(tmp_path, capsys):
    from ondevice.limits import MAX_TEXT_CHARS

    f = tmp_path / "d.tsv"
    f.write_text(f"0\t{'a' * (MAX_TEXT_CHARS + 5)}\n1\tshort\n0\t{'b ' * MAX_TEXT_CHARS}\n")
    d = read_dataset(f)
    assert [len(t) for t in d.texts] == [MAX_TEXT_CHARS, 5, MAX_TEXT_CHARS] and d.cut == 2
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("Note:")]
    assert len(notes) == 1 and "2 texts" in notes[0] and f"{f}:1" in notes[0]


def test_a_line_over_the_hard_limit_is_refused_with_its_number(tmp_path, monkeypatch):
    import ondevice.data

    monkeypatch.setattr(ondevice.data, "MAX_LINE_BYTES", 64)
    f = tmp_path / "d.tsv"
    f.write_text("0\tfine\n" + "1\t" + "x" * 100 + "\n")
    with pytest.raises(DataError, match=r"d.tsv:2: the line is longer than"):
        read_dataset(f)


def test_the_row_limit_counts_blank_lines(tmp_path, monkeypatch):
    import ondevice.data

    monkeypatch.setattr(ondevice.data, "MAX_ROWS", 10)
    f = tmp_path / "d.tsv"
    f.write_text("0\tfine\n" + "\n" * 10)
    with pytest.raises(DataError, match="more than 10 lines"):
        read_dataset(f)
    f.write_text("0\tfine\n" + "\n" * 9)
    assert len(read_dataset(f)) == 1


@pytest.mark.parametrize(
    "name,content,match",
    [
        ("three.tsv", b"0\tfine\n1\tgood\tfun\n", r"three.tsv:2: expected two columns \(label, text\), found 3; GLUE"),
        ("trailing.tsv", b"0\tfine\t\n", r"trailing.tsv:1: .*found 3"),
        ("many.tsv", b"0\t" + b"\t" * 1000 + b"x\n", r"many.tsv:1: .*found 1002"),
        ("comma.csv", b"0,fine\n1,good, fun\n", r"comma.csv:2: .*found 3; CSV is label,text"),
        ("unclosed.csv", b'0,fine\n1,"good\n0,bad\n', r"unclosed.csv:2: not valid CSV .*unclosed quote"),
        ("emptylabel.tsv", b"0\tfine\n\ttext\n", r"emptylabel.tsv:2: the label is empty"),
        ("emptytext.tsv", b"0\tfine\n1\t \n", r"emptytext.tsv:2: the text is empty"),
        ("nul.tsv", b"0\tfine\n1\tgo\x00od\n", r"nul.tsv:2: a NUL byte at byte 5"),
        ("utf16.tsv", "0\tfine\n".encode("utf-16"), r"utf16.tsv: UTF-16"),
        ("cesu.tsv", b"0\t\xed\xa0\x80\n", r"cesu.tsv:1: not UTF-8"),
        ("sur.jsonl", b'{"text": "\\ud800", "label": 0}\n', r"sur.jsonl:1: not valid Unicode .*U\+D800"),
        ("surlabel.jsonl", b'{"text": "a", "label": "\\udfff"}\n', r"surlabel.jsonl:1: not valid Unicode"),
        ("num.jsonl", b'{"text": 3, "label": 0}\n', r"num.jsonl:1: 'text' must be a string, not a number"),
        ("null.jsonl", b'{"text": "a", "label": null}\n', r"null.jsonl:1: 'label' must be a string or an integer"),
        ("bool.jsonl", b'{"text": "a", "label": true}\n', r"bool.jsonl:1: .*not a boolean"),
        ("deep.jsonl", b"[" * 100_000 + b"\n", r"deep.jsonl:1: not valid JSON \(nested too deeply\)"),
        ("bigint.jsonl", b'{"text": "a", "label": ' + b"7" * 5000 + b"}\n", r"bigint.jsonl:1: .*number too long"),
        ("array.json", b'[\n{"text": "a", "label": 0}\n]\n', r"array.json:1: .*not an array"),
    ],
)
def test_hostile_rows_name_the_line(tmp_path, name, content, match):
    f = tmp_path / name
    f.write_bytes(content)
    with pytest.raises(DataError, match=match) as e:
        read_dataset(f)
    assert "\n" not in str(e.value)


def test_crlf_bom_and_quoted_line_breaks(tmp_path):
    f = tmp_path / "d.tsv"
    f.write_bytes(b"\xef\xbb\xbflabel\tsentence\r\n0\tbad\r\n\r\n1\tgood\r\n")
    d = read_dataset(f)
    assert d.texts == ["bad", "good"] and [e.line for e in d.examples] == [2, 4]
    f = tmp_path / "d.csv"
    f.write_bytes(b'label,text\r\n0,"bad,\r\nreally bad"\r\n1,good\r\n1,"x"y\r\n')
    # A record is named by its first line, also after a quoted field that ran over two lines.
    with pytest.raises(DataError, match=r"d.csv:5: not valid CSV"):
        read_dataset(f)
    f.write_bytes(b'label,text\r\n0,"bad,\r\nreally bad"\r\n1,good\r\n')
    d = read_dataset(f)
    assert d.texts == ["bad,\r\nreally bad", "good"] and [e.line for e in d.examples] == [2, 4]


def test_csv_field_limit_is_ours_and_restored(tmp_path, monkeypatch):
    import csv

    import ondevice.data

    before = csv.field_size_limit()
    monkeypatch.setattr(ondevice.data, "MAX_LINE_BYTES", 50)
    f = tmp_path / "d.csv"
    f.write_text('0,"' + "long line\n" * 20 + '"\n')
    with pytest.raises(DataError, match=r"d.csv:1: not valid CSV .*unclosed quote"):
        read_dataset(f)
    assert csv.field_size_limit() == before


def test_files_that_are_not_regular_files_are_refused_at_once(tmp_path):
    import os

    os.mkfifo(tmp_path / "pipe.tsv")  # no writer: opening it for reading would block forever
    for path, match in [
        (tmp_path / "pipe.tsv", "not a regular file"),
        ("/dev/zero", "not a regular file"),
        (tmp_path, "is a directory"),
    ]:
        with pytest.raises(DataError, match=match):
            read_dataset(path)


def test_index_labels_are_ascii_digits_and_complete(tmp_path):
    f = tmp_path / "d.tsv"
    f.write_text("0\ta\n1\tb\n\u00b2\tc\n")  # '²'.isdigit() is true, int('²') fails
    with pytest.raises(DataError, match=r"d.tsv:3: unknown label '\u00b2'"):
        read_dataset(f, ["neg", "pos"])
    f.write_text("0\ta\n1\tb\n3\tc\n")
    with pytest.raises(DataError, match="2 never occurs"):
        read_dataset(f)
    f.write_text("0\ta\n999999999\tb\n")  # not a billion class names
    with pytest.raises(DataError, match="1 never occurs"):
        read_dataset(f)


def test_a_mistyped_training_label_is_refused_unless_allowed(tmp_path):
    from ondevice.data import read_train_dev

    train, dev = tmp_path / "train.tsv", tmp_path / "dev.tsv"
    train.write_text("negative\tbad\npositive\tgood\npostive\tfun\nnegative\tdull\n")
    dev.write_text("negative\tawful\npositive\tgreat\n")
    refused = r"train.tsv:3: label 'postive' does not occur in the dev file .*--allow-new-labels"
    with pytest.raises(DataError, match=refused):
        read_train_dev(train, dev)
    t, d = read_train_dev(train, dev, allow_new_labels=True)
    assert t.labels == ["negative", "positive", "postive"] and len(d) == 2
    with pytest.raises(DataError, match=r"train.tsv:3: unknown label 'postive'"):
        read_train_dev(train, dev, ["negative", "positive"])
    with pytest.raises(DataError, match="label 2: not valid Unicode"):
        read_train_dev(train, dev, ["negative", "pos\udcffitive"])
