"""Labelled text from GLUE-style TSV, CSV and JSONL files.

TSV and CSV: the first column is the label, the second the text; a header row is optional and
its names are not trusted (SST-2's train and dev headers differ). JSONL: one object per line
with ``text`` and ``label``. Label names come from the model's labels.json when given, else
from the data.

Files are read line by line in binary, never whole: a line over ``limits.MAX_LINE_BYTES`` is
refused without reading more of it, each line is decoded on its own (so an error names its line),
and a text is cut to ``limits.MAX_TEXT_CHARS`` as soon as it is read. The limits live in
``ondevice.limits``.
"""

from __future__ import annotations

import codecs
import csv
import json
import os
import stat
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence

from ondevice.errors import DataError
from ondevice.limits import MAX_FILE_BYTES, MAX_LINE_BYTES, MAX_ROWS, TextCutter, check_text

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
DELIMITERS = {".tsv": "\t", ".txt": "\t", "": "\t", ".csv": ","}


@dataclass(frozen=True, slots=True)  # slots: a dataset may hold millions
class Example:
    text: str
    label: int
    line: int = 0  # where it was read (1-based line of its file; 0 when it came from elsewhere)


@dataclass
class Dataset:
    examples: list[Example]
    labels: list[str]  # label names, indexed by Example.label
    path: str = ""
    cut: int = 0  # how many texts were cut to limits.MAX_TEXT_CHARS

    def __len__(self) -> int:
        return len(self.examples)

    @property
    def texts(self) -> list[str]:
        return [e.text for e in self.examples]

    @property
    def targets(self) -> list[int]:
        return [e.label for e in self.examples]


@contextmanager
def _open(path: Path) -> Iterator[BinaryIO]:
    """A regular file, opened for reading; anything else (a directory, a FIFO, a device) is refused.

    The type is checked on the opened descriptor, and the open does not block, so a FIFO or a
    device swapped in after a check can neither hang the reader nor feed it forever.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory; give a .tsv, .csv or .jsonl file") from None
    except OSError as e:
        raise DataError(f"{path}: cannot be read ({e.strerror or e})") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise DataError(f"{path}: is a directory; give a .tsv, .csv or .jsonl file")
        if not stat.S_ISREG(st.st_mode):
            raise DataError(f"{path}: not a regular file (a device, FIFO or socket); give a .tsv, .csv or .jsonl file")
        if st.st_size > MAX_FILE_BYTES:
            raise DataError(f"{path}: larger than {MAX_FILE_BYTES // 1024**3} GiB")
        os.set_blocking(fd, True)
        f = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with f:
        yield f


class _Lines:
    """The decoded lines of a file, each with its line ending, and the number of the last one read.

    Enforces the per-line, per-file and row limits and refuses invalid UTF-8 and NUL characters,
    naming the line.
    """

    def __init__(self, f: BinaryIO, path: Path):
        self.path = path
        self.number = 0  # of the last line read
        self.blank = True  # nothing but whitespace so far
        self._it = self._read(f)

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        return next(self._it)

    def _read(self, f: BinaryIO) -> Iterator[str]:
        # A generator with local state: this loop runs once per line, blank lines included.
        path, total, n = self.path, 0, 0
        while True:
            try:
                # One byte past the limit tells a line at the limit from one over it.
                raw = f.readline(MAX_LINE_BYTES + 1)
            except OSError as e:
                raise DataError(f"{path}:{n + 1}: cannot be read ({e.strerror or e})") from None
            if not raw:
                return
            n += 1
            self.number = n
            if n > MAX_ROWS:
                raise DataError(f"{path}: more than {MAX_ROWS:,} lines; split the file")
            if raw == b"\n" or raw == b"\r\n":  # the fast path for blank lines
                total += len(raw)
                yield "\n"
                continue
            if len(raw) > MAX_LINE_BYTES:
                raise DataError(
                    f"{path}:{n}: the line is longer than {MAX_LINE_BYTES // 1024**2} MiB; is this a text data file?"
                )
            total += len(raw)
            if total > MAX_FILE_BYTES:  # a file that grows while it is read
                raise DataError(f"{path}: larger than {MAX_FILE_BYTES // 1024**3} GiB")
            if n == 1:
                raw = self._strip_bom(raw)
            if (nul := raw.find(b"\0")) >= 0:  # before decoding: binary data is named so, not as bad UTF-8
                raise DataError(
                    f"{path}:{n}: a NUL byte at byte {nul + 1} of the line; this looks like binary data, not text"
                )
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError(
                    f"{path}:{n}: not UTF-8 text (byte {raw[e.start]:#04x} at byte {e.start + 1} of the line); "
                    "save the file as UTF-8"
                ) from None
            del raw  # the decoded copy is all that is kept of a long line
            check_text(line, f"{path}:{n}")
            if self.blank and not line.isspace():
                self.blank = False
            yield line

    def _strip_bom(self, raw: bytes) -> bytes:
        if raw.startswith(codecs.BOM_UTF8):
            return raw[len(codecs.BOM_UTF8) :]
        if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise DataError(f"{self.path}: UTF-16 or UTF-32 text; save the file as UTF-8")
        return raw


def label_and_text(fields: Sequence[str], where: str, delimiter: str, found: int | None = None) -> tuple[str, str]:
    """The one place that says which columns of a delimited row are the label and the text.

    Args:
        fields: the row's fields, in order.
        where: ``file:line``, for the message.
        delimiter: ``"\\t"`` or ``","``, for the message.
        found: how many columns the row has, when ``fields`` holds only the first few.

    Returns:
        (label, text): the label stripped of surrounding spaces, the text as it is.

    Raises:
        DataError: a row with other than two columns, naming the line and what was expected.
    """
    found = len(fields) if found is None else found
    if found < 2:
        raise DataError(f"{where}: expected two columns (label, text), found {found}")
    if found > 2:
        if delimiter == "\t":
            hint = "GLUE TSV is label TAB text; a tab inside the text is the likely cause: replace it with a space"
        else:
            hint = "CSV is label,text; put a text that holds a comma in double quotes"
        raise DataError(f"{where}: expected two columns (label, text), found {found}; {hint}")
    return fields[0].strip(), fields[1]


def _check_row(where: str, label: str, text: str) -> None:
    if not label:
        raise DataError(f"{where}: the label is empty")
    if not text.strip():
        raise DataError(f"{where}: the text is empty")


def _rows_tsv(lines: _Lines) -> Iterator[tuple[int, str, str]]:
    # GLUE's TSVs are not quoted: a quote character is part of the sentence.
    for line in lines:
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        where = f"{lines.path}:{lines.number}"
        # At most three pieces: a line of a million tabs must not become a million strings.
        fields = line.split("\t", 2)
        found = len(fields) if len(fields) < 3 else line.count("\t") + 1
        label, text = label_and_text(fields, where, "\t", found)
        del line, fields
        _check_row(where, label, text)
        yield lines.number, label, text


def _rows_csv(lines: _Lines) -> Iterator[tuple[int, str, str]]:
    # strict: a quote left open runs to the end of the file, and that is an error, not one long text
    reader = csv.reader(lines, strict=True)
    start = 1  # a quoted field may run over several lines; a row is named by its first
    old_limit = csv.field_size_limit(MAX_LINE_BYTES)
    try:
        while True:
            try:
                rec = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                if "field limit" in str(e) or "end of data" in str(e):
                    hint = "an unclosed quote?"
                else:
                    hint = 'put a text with quotes in double quotes and double the quotes inside it ("")'
                raise DataError(f"{lines.path}:{start}: not valid CSV ({e}); {hint}") from None
            where = f"{lines.path}:{start}"
            n, start = start, reader.line_num + 1
            if not rec or all(not f.strip() for f in rec):
                continue
            label, text = label_and_text(rec, where, ",")
            _check_row(where, label, text)
            yield n, label, text
    finally:
        csv.field_size_limit(old_limit)


def _rows_jsonl(lines: _Lines) -> Iterator[tuple[int, str, str]]:
    for line in lines:
        if not line.strip():
            continue
        where = f"{lines.path}:{lines.number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            hint = "; give one JSON object per line (JSON Lines), not an array" if line.lstrip()[:1] == "[" else ""
            raise DataError(f"{where}: not valid JSON ({e.msg}){hint}") from None
        except RecursionError:
            raise DataError(f"{where}: not valid JSON (nested too deeply)") from None
        except ValueError:  # an integer of more digits than Python converts (sys.get_int_max_str_digits)
            raise DataError(f"{where}: not valid JSON (a number too long to read)") from None
        del line
        if not isinstance(obj, dict):
            raise DataError(f"{where}: expected a JSON object with 'text' and 'label'")
        for key in ("text", "label"):
            if key not in obj:
                raise DataError(f"{where}: missing field {key!r}")
        text, label = obj["text"], obj["label"]
        if not isinstance(text, str):
            raise DataError(f"{where}: 'text' must be a string, not {_json_type(text)}")
        # bool is an int to Python, but `true` is no label
        if isinstance(label, bool) or not isinstance(label, (str, int)):
            raise DataError(f"{where}: 'label' must be a string or an integer, not {_json_type(label)}")
        label = str(label).strip()
        # a JSON escape can carry what UTF-8 bytes cannot: a lone surrogate
        check_text(text, where)
        check_text(label, where)
        _check_row(where, label, text)
        yield lines.number, label, text


def _json_type(value) -> str:
    names = {
        type(None): "null",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        list: "a list",
        dict: "an object",
    }
    return names.get(type(value), type(value).__name__)


def _is_header(first: tuple[int, str, str], rest: list[tuple[int, str, str]], labels: Sequence[str] | None) -> bool:
    value = first[1]
    if labels is not None and (value in labels or _as_index(value) is not None and _as_index(value) < len(labels)):
        return False
    if value.lstrip("-").isdigit():
        return False
    return value not in {r[1] for r in rest}


def _as_index(label: str) -> int | None:
    """A label written as a class index (ASCII digits only: int() also takes '²' and '١')."""
    if label.isascii() and label.isdigit() and len(label) <= 9:
        return int(label)
    return None


def read_dataset(path: str | Path, labels: Sequence[str] | None = None) -> Dataset:
    """Read a labelled file.

    Args:
        path: a .tsv, .csv, .jsonl (or .json lines) file.
        labels: the model's label names. A label in the file may be a name from this list or
            its index. Without it, names are taken from the data: integers 0..K-1 keep their
            order (none may be missing), other names are sorted.

    Returns:
        The examples, with each text cut to ``limits.MAX_TEXT_CHARS`` (a note on stderr says how
        many were cut and where the first was).

    Raises:
        DataError: with the file and line number of the first problem: a line that is not UTF-8,
            holds a NUL or is longer than ``limits.MAX_LINE_BYTES``, a row with other than two
            columns, an empty label or text, an unknown label; or a file that is not a regular
            file, is larger than ``limits.MAX_FILE_BYTES`` or has more than ``limits.MAX_ROWS`` lines.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    cut = TextCutter()
    with _open(path) as f:
        if suffix not in JSONL_SUFFIXES and suffix not in DELIMITERS:
            raise DataError(f"{path}: unknown data format {suffix!r}; use .tsv, .csv or .jsonl")
        lines = _Lines(f, path)
        if suffix in JSONL_SUFFIXES:
            records = _rows_jsonl(lines)
        elif DELIMITERS[suffix] == ",":
            records = _rows_csv(lines)
        else:
            records = _rows_tsv(lines)
        # Each text is cut as it is read, so a dataset holds at most MAX_TEXT_CHARS per row.
        rows = [(n, label, cut(text, f"{path}:{n}")) for n, label, text in records]
        if lines.blank:
            raise DataError(f"{path}: the file is empty")
    if suffix not in JSONL_SUFFIXES and rows and _is_header(rows[0], rows[1:], labels):
        rows = rows[1:]
    if not rows:
        raise DataError(f"{path}: no labelled rows")

    names = list(labels) if labels is not None else _names_from_data(path, [r[1] for r in rows])
    index = {name: i for i, name in enumerate(names)}
    examples = []
    for n, label, sentence in rows:
        if label in index:
            y = index[label]
        elif (i := _as_index(label)) is not None and i < len(names):
            y = i
        else:
            raise DataError(f"{path}:{n}: unknown label {label!r} (known: {', '.join(names)})")
        examples.append(Example(sentence, y, n))
    cut.note()
    return Dataset(examples, names, str(path), cut.count)


def _names_from_data(path: Path, values: list[str]) -> list[str]:
    distinct = set(values)
    indices = {_as_index(v) for v in distinct}
    if None in indices:
        return sorted(distinct)
    k = max(indices) + 1
    if k > len(indices):  # a class that never occurs would be created silently
        missing = next(i for i in range(k) if i not in indices)
        raise DataError(
            f"{path}: the labels are class indices, but {missing} never occurs (they must run 0..{len(indices) - 1}); "
            "give the label names in index order instead (--labels)"
        )
    return [str(i) for i in range(k)]


def check_new_labels(train: Dataset, dev: Dataset) -> None:
    """Refuse a class that the training data brings in but the dev data never shows.

    When the label names come from the training data, one mistyped label ("postive") would
    otherwise silently become a class of its own.

    Raises:
        DataError: naming the label and the first line of the training file where it occurs.
    """
    seen = set(dev.targets)
    for y, name in enumerate(train.labels):
        if y in seen:
            continue
        first = next((e.line for e in train.examples if e.label == y), None)
        where = f"{train.path}:{first}" if first else train.path
        raise DataError(
            f"{where}: label {name!r} does not occur in the dev file {dev.path}; a typo? "
            "If it is a class, list every class with --labels or pass --allow-new-labels"
        )


def read_train_dev(
    train_path: str | Path,
    dev_path: str | Path,
    labels: Sequence[str] | None = None,
    allow_new_labels: bool = False,
) -> tuple[Dataset, Dataset]:
    """Read a training and a dev file for fine-tuning.

    Args:
        train_path, dev_path: labelled files.
        labels: the label names (from --labels or the base model). Without them the names come
            from the training data, and every one must also occur in the dev data unless
            ``allow_new_labels`` (``check_new_labels``).

    Raises:
        DataError: a bad file, a dev label the training data lacks, or a training label the dev
            data lacks.
    """
    for i, name in enumerate(labels or (), start=1):
        check_text(name, f"label {i}")
    train = read_dataset(train_path, labels)
    dev = read_dataset(dev_path, train.labels)
    if labels is None and not allow_new_labels:
        check_new_labels(train, dev)
    return train, dev
