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
