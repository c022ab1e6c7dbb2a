"""Labelled text from GLUE-style TSV, CSV and JSONL files.

TSV and CSV: the first column is the label, the second the text; a header row is optional and
its names are not trusted (SST-2's train and dev headers differ). JSONL: one object per line
with ``text`` and ``label``. Label names come from the model's labels.json when given, else
from the data.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ondevice.errors import DataError

MAX_FILE_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class Example:
    text: str
    label: int


@dataclass
class Dataset:
    examples: list[Example]
    labels: list[str]  # label names, indexed by Example.label
    path: str = ""

    def __len__(self) -> int:
        return len(self.examples)

    @property
    def texts(self) -> list[str]:
        return [e.text for e in self.examples]

    @property
    def targets(self) -> list[int]:
        return [e.label for e in self.examples]


def _read_text(path: Path) -> str:
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if not path.is_file():
        raise DataError(f"{path}: not a file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise DataError(f"{path}: larger than {MAX_FILE_BYTES // 1024**3} GiB")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not UTF-8 text (byte {raw[e.start]:#04x})") from None
    if not text.strip():
        raise DataError(f"{path}: the file is empty")
    return text


def _rows_delimited(path: Path, text: str, delimiter: str) -> list[tuple[int, str, str]]:
    rows = []
    if delimiter == "\t":
        # GLUE's TSVs are not quoted: a quote character is part of the sentence.
        lines = enumerate(text.splitlines(), start=1)
        records = ((n, line.split("\t")) for n, line in lines)
    else:
        reader = csv.reader(io.StringIO(text))
        records = ((reader.line_num, rec) for rec in reader)
    for n, rec in records:
        if not rec or all(not f.strip() for f in rec):
            continue
        if len(rec) < 2:
            raise DataError(f"{path}:{n}: expected two columns (label, text), found {len(rec)}")
        rows.append((n, rec[0].strip(), rec[1]))
    return rows


def _rows_jsonl(path: Path, text: str) -> list[tuple[int, str, str]]:
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{n}: not valid JSON ({e.msg})") from None
        if not isinstance(obj, dict):
            raise DataError(f"{path}:{n}: expected a JSON object with 'text' and 'label'")
        for key in ("text", "label"):
            if key not in obj:
                raise DataError(f"{path}:{n}: missing field {key!r}")
        if not isinstance(obj["text"], str):
            raise DataError(f"{path}:{n}: 'text' must be a string")
        rows.append((n, str(obj["label"]).strip(), obj["text"]))
    return rows


def _is_header(first: tuple[int, str, str], rest: list[tuple[int, str, str]], labels: Sequence[str] | None) -> bool:
    value = first[1]
    if labels is not None and (value in labels or (value.isdigit() and int(value) < len(labels))):
        return False
    if value.lstrip("-").isdigit():
        return False
    return value not in {r[1] for r in rest}


def read_dataset(path: str | Path, labels: Sequence[str] | None = None) -> Dataset:
    """Read a labelled file.

    Args:
        path: a .tsv, .csv, .jsonl (or .json lines) file.
        labels: the model's label names. A label in the file may be a name from this list or
            its index. Without it, names are taken from the data: integers 0..K-1 keep their
            order, other names are sorted.

    Raises:
        DataError: with the file and line number of the first problem.
    """
    path = Path(path)
    text = _read_text(path)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        rows = _rows_jsonl(path, text)
    elif suffix == ".csv":
        rows = _rows_delimited(path, text, ",")
    elif suffix in (".tsv", ".txt", ""):
        rows = _rows_delimited(path, text, "\t")
    else:
        raise DataError(f"{path}: unknown data format {suffix!r}; use .tsv, .csv or .jsonl")
    if suffix not in (".jsonl", ".json", ".ndjson") and rows and _is_header(rows[0], rows[1:], labels):
        rows = rows[1:]
    if not rows:
        raise DataError(f"{path}: no labelled rows")

    names = list(labels) if labels is not None else _names_from_data([r[1] for r in rows])
    index = {name: i for i, name in enumerate(names)}
    examples = []
    for n, label, sentence in rows:
        if label in index:
            y = index[label]
        elif label.isdigit() and int(label) < len(names):
            y = int(label)
        else:
            raise DataError(f"{path}:{n}: unknown label {label!r} (known: {', '.join(names)})")
        examples.append(Example(sentence, y))
    return Dataset(examples, names, str(path))


def _names_from_data(values: list[str]) -> list[str]:
    distinct = set(values)
    if all(v.isdigit() for v in distinct):
        k = max(int(v) for v in distinct) + 1
        return [str(i) for i in range(k)]
    return sorted(distinct)
