"""Labelled text from GLUE-style TSV, CSV and JSONL files.

TSV and CSV: the first column is the label, the second the text; a header row is optional and
its names are not trusted (SST-2's train and dev headers differ). Sentence pairs (NLI, paraphrase)
have a third column, the second text; other layouts name their columns (``Columns``: the label's
and the texts', counted from 1 as ``cut -f`` does). JSONL: one object per line with ``text`` and
``label``, and ``text_pair`` for pairs. Label names come from the model's labels.json when given,
else from the data.

Multi-label data (any number of labels per text, none included) is read when the caller says so
(the model is multi-label, or ``--multi-label``): a TSV or CSV label field holds names separated by
``|`` (empty: no label applies), a JSONL ``label`` a list of names or indices. Read as single-label, such
a row is refused with that advice rather than taken as a label named ``a|b``.

Files are read line by line in binary, never whole: a line over ``limits.MAX_LINE_BYTES`` is
refused without reading more of it, each line is decoded on its own (so an error names its line),
and a text is cut to ``limits.MAX_TEXT_CHARS`` as soon as it is read. The limits live in
``ondevice.limits``.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import os
import stat
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence

import numpy as np

from ondevice.errors import DataError
from ondevice.limits import MAX_FILE_BYTES, MAX_LINE_BYTES, MAX_ROWS, TextCutter, check_text

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
DELIMITERS = {".tsv": "\t", ".txt": "\t", "": "\t", ".csv": ","}


@dataclass(frozen=True, slots=True)  # slots: a dataset may hold millions
class Example:
    text: str
    label: int | tuple[int, ...]  # the class index; multi-label: the indices of the labels that apply, ascending
    line: int = 0  # where it was read (1-based line of its file; 0 when it came from elsewhere)
    text_pair: str | None = None  # the second text of a sentence pair


@dataclass(frozen=True)
class Columns:
    """Which columns of a TSV or CSV row hold the label and the text or texts, counted from 1.

    ``explicit``: named by the user (``--text-columns``, ``--label-column``); a row may then have
    other columns too, but every row as many as the first. The default layouts (label, text) and
    (label, text, text_pair) take exactly their columns, so that a tab inside a text is caught.
    """

    label: int = 1
    texts: tuple[int, ...] = (2,)
    explicit: bool = False

    @property
    def pairs(self) -> bool:
        return len(self.texts) == 2

    @property
    def width(self) -> int:
        return max(self.label, *self.texts)

    def describe(self) -> str:
        names = {self.label: "label", self.texts[0]: "text"}
        if self.pairs:
            names[self.texts[1]] = "text_pair"
        return ", ".join(names.get(i, "…") for i in range(1, self.width + 1))


SINGLE = Columns()
PAIRS = Columns(texts=(2, 3))


def parse_columns(text_columns: str | None, label_column: int | None) -> Columns | None:
    """``--text-columns 4,5`` and ``--label-column 1`` as Columns; None when neither is given.

    Raises:
        DataError: a column that is not a positive integer, more than two texts, or a column used twice.
    """
    if text_columns is None and label_column is None:
        return None
    texts = (2,)
    if text_columns is not None:
        parts = [p.strip() for p in str(text_columns).split(",")]
        if not 1 <= len(parts) <= 2 or not all(p.isascii() and p.isdigit() and 0 < int(p) < 10_000 for p in parts):
            raise DataError(
                f"--text-columns {str(text_columns)[:40]!r}: give one or two column numbers counted from 1, "
                "e.g. 2 for one text or 2,3 for a sentence pair"
            )
        texts = tuple(int(p) for p in parts)
    label = 1 if label_column is None else label_column
    if not 0 < label < 10_000:
        raise DataError(f"--label-column {label}: give a column number counted from 1")
    if len({label, *texts}) != 1 + len(texts):
        raise DataError(f"columns overlap: the label is column {label}, the texts {', '.join(map(str, texts))}")
    # The default layouts keep their strict reading (exactly their columns), however they were asked for.
    return Columns(label, texts, explicit=(label, texts) not in ((1, (2,)), (1, (2, 3))))


@dataclass
class Dataset:
    examples: list[Example]
    labels: list[str]  # label names, indexed by Example.label
    path: str = ""
    cut: int = 0  # how many texts were cut to limits.MAX_TEXT_CHARS
    multi_label: bool = False  # each Example.label a tuple of the labels that apply

    def __len__(self) -> int:
        return len(self.examples)

    @property
    def pairs(self) -> bool:
        """Whether the examples are sentence pairs (all are, or none)."""
        return bool(self.examples) and self.examples[0].text_pair is not None

    @property
    def texts(self) -> list[str] | list[tuple[str, str]]:
        """What the tokenizer takes: the texts, or (text, text_pair) tuples."""
        if self.pairs:
            return [(e.text, e.text_pair) for e in self.examples]
        return [e.text for e in self.examples]

    @property
    def targets(self) -> list[int] | list[tuple[int, ...]]:
        return [e.label for e in self.examples]

    def multi_hot(self) -> np.ndarray:
        """Multi-label targets as (N, labels) 0/1 floats: 1 where a label applies."""
        y = np.zeros((len(self.examples), len(self.labels)), dtype=np.float32)
        for i, e in enumerate(self.examples):
            y[i, list(e.label)] = 1.0
        return y

    def split(self, share: float, seed: int, most: int | None = None) -> tuple["Dataset", "Dataset"]:
        """(rest, held out) as ``held_out`` carves them, each part in file order."""
        kept, held = held_out(self, share, seed, most)
        return self.take(kept), self.take(held)

    def digest(self) -> str:
        """SHA-256 of the examples as read (text, text pair, label names, in order): the same digest means
        the same examples, whatever file, columns or version of ``held_out`` produced them."""
        h = hashlib.sha256()
        for e in self.examples:
            labels = e.label if isinstance(e.label, tuple) else (e.label,)
            row = [e.text, e.text_pair or "", *(self.labels[i] for i in labels)]
            h.update(json.dumps(row, ensure_ascii=False).encode() + b"\n")
        return h.hexdigest()

    def take(self, rows) -> "Dataset":
        """The examples at ``rows``, in that order, with the same labels."""
        return Dataset([self.examples[i] for i in rows], self.labels, self.path, 0, self.multi_label)


# How ``held_out`` carves a split, recorded with what was carved from it: a checkpoint fine-tuned on a file
# says which of its texts it never trained on, and a search of that checkpoint validates on those.
SPLIT = "texts-with-their-phrases"
FROM_FINETUNE = "the input model's fine-tuning"  # where a held-out split came from, as recorded
SCAN_MOST = 5000  # texts a phrase is compared with before it is taken as a text of its own


def text_groups(texts: Sequence[str]) -> np.ndarray:
    """For each text, the row of the text its group is named by: a text and every text found inside it,
    word for word (case and spacing aside), share a group, named by the longest.

    SST-2's training set is 67k phrases cut from about 7k sentences: a phrase held out at random shares
    its sentence with phrases left in training, and a split of single rows scores memory, not the
    sentences a model has never seen (0.943 on such a split, 0.896 on dev, for the same model). Texts are
    taken longest first; each is compared with the groups' texts that hold its rarest word, and joins the
    first that contains it, else starts a group. A phrase inside several sentences joins one of them. A
    text compared with ``SCAN_MOST`` candidates without a match starts its own group, so that data of
    short, common-worded texts cannot make this quadratic. Exact repeats of a text share its group.
    """
    n = len(texts)
    words = [t.lower().split() for t in texts]
    padded = [f" {' '.join(w)} " for w in words]
    index: dict[str, list[int]] = {}  # word -> the rows of group texts that hold it
    group = np.arange(n)
    for r in sorted(range(n), key=lambda r: (-len(words[r]), r)):
        vocab = set(words[r])
        holders = [index.get(w) for w in vocab]
        found = None
        if vocab and all(h is not None for h in holders):
            found = next((c for c in min(holders, key=len)[:SCAN_MOST] if padded[r] in padded[c]), None)
        if found is None:
            for w in vocab:
                index.setdefault(w, []).append(r)
        else:
            group[r] = found
    return group


def held_out(data: "Dataset", share: float, seed: int, most: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(rows to keep, rows held out) of ``data``, disjoint and sorted, whole groups of texts apart
    (``text_groups``; for sentence pairs, of the first texts): what is kept shares with a held-out text only
    the phrases it shares with a kept one, as dev's sentences do with training.

    A seeded random ``share`` of the groups is held out (at most ``most``, at least one, never all); the
    held-out rows are the examples of each such group that are its longest text, as dev has whole
    sentences; the group's phrases are neither trained on nor held out. Data without phrases inside other
    texts is split row by row, as a plain random split would.

    Raises:
        DataError: fewer than two examples, or fewer than two groups (every text inside one other).
    """
    n = len(data)
    if n < 2:
        raise DataError(f"{data.path}: {n} example(s); at least two are needed to hold some out")
    group = text_groups([e.text for e in data.examples])
    names = np.unique(group)
    if len(names) < 2:
        raise DataError(
            f"{data.path}: every text is inside one other ({data.examples[names[0]].text[:60]!r}); nothing can be "
            "held out that training does not also contain"
        )
    k = min(len(names) - 1, max(1, round(len(names) * share)), most or len(names))
    chosen = np.random.default_rng(seed).permutation(names)[:k]
    out = np.isin(group, chosen)
    key = [" ".join(e.text.lower().split()) for e in data.examples]
    held = [r for r in np.flatnonzero(out) if key[r] == key[group[r]]]
    return np.flatnonzero(~out), np.asarray(held, dtype=np.int64)


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


class _Picker:
    """The one place that says which columns of a delimited row are the label and the texts.

    With the default layouts a row has exactly their columns; with columns the user named, at least
    those and as many as the first row, so that a tab or comma inside a text is still caught.
    """

    def __init__(self, columns: Columns, delimiter: str):
        self.columns = columns
        self.delimiter = delimiter
        self.first: int | None = None  # columns of the first row (named columns only)

    @property
    def pieces(self) -> int:
        """How many fields a row is split into at most: a line of a million tabs must not become a
        million strings. The last piece holds the rest of the line, unsplit."""
        return self.columns.width + 1

    def __call__(self, fields: Sequence[str], where: str, found: int | None = None) -> tuple[str, tuple[str, ...]]:
        """(label, texts) of one row: the label stripped of surrounding spaces, the texts as they are.

        Args:
            fields: the row's fields, in order (with TSV only the first ``pieces``).
            where: ``file:line``, for the message.
            found: how many columns the row has, when ``fields`` holds only the first few.

        Raises:
            DataError: a row with other than the expected columns, naming the line and the layout.
        """
        c = self.columns
        found = len(fields) if found is None else found
        expected = c.width
        if c.explicit:
            self.first = found if self.first is None else self.first
            if found < c.width:
                raise DataError(f"{where}: expected at least {c.width} columns ({c.describe()}), found {found}")
            expected = self.first
        if found != expected:
            count = {2: "two", 3: "three"}.get(expected, str(expected))
            layout = f"{count} columns as the first row has" if c.explicit else f"{count} columns ({c.describe()})"
            hint = ""
            if found > expected:
                sep = " TAB " if self.delimiter == "\t" else ","
                kind = "GLUE TSV" if self.delimiter == "\t" else "CSV"
                if self.delimiter == "\t":
                    cure = "a tab inside the text is the likely cause: replace it with a space"
                else:
                    cure = "put a text that holds a comma in double quotes"
                hint = f"; {kind} is {sep.join(c.describe().split(', '))}; {cure}" if not c.explicit else f"; {cure}"
                if not c.explicit and not c.pairs and found == 3:
                    hint += "; for sentence pairs (label, text, text_pair) give --text-columns 2,3"
            elif c.pairs and not c.explicit:
                hint = "; the model classifies sentence pairs, so each row needs both texts"
            raise DataError(f"{where}: expected {layout}, found {found}{hint}")
        return fields[c.label - 1].strip(), tuple(fields[i - 1] for i in c.texts)


MULTI_LABEL_SEPARATOR = "|"
MULTI_LABEL_ADVICE = "multi-label data; give --multi-label (or start from a multi-label model)"


def _multi(where: str, label: str, multi_label: bool) -> str | tuple[str, ...]:
    """A TSV or CSV label field: the label, or for multi-label data the names between ``|`` (none when empty)."""
    if not multi_label:
        if MULTI_LABEL_SEPARATOR in label:
            raise DataError(f"{where}: the label {label[:60]!r} holds {MULTI_LABEL_SEPARATOR!r}: {MULTI_LABEL_ADVICE}")
        return label
    names = tuple(n.strip() for n in label.split(MULTI_LABEL_SEPARATOR)) if label else ()
    if any(not n for n in names):
        raise DataError(f"{where}: an empty label name in {label[:60]!r}; separate the names with one '|'")
    return names


def _check_row(where: str, label: str | tuple[str, ...], texts: tuple[str, ...]) -> None:
    if not label and not isinstance(label, tuple):  # no label at all is a multi-label row's right
        raise DataError(f"{where}: the label is empty")
    for name, text in zip(("text", "second text (text_pair)"), texts, strict=False):
        if not text.strip():
            raise DataError(f"{where}: the {name} is empty")


def _rows_tsv(lines: _Lines, columns: Columns, multi_label: bool) -> Iterator[tuple[int, str, tuple[str, ...]]]:
    # GLUE's TSVs are not quoted: a quote character is part of the sentence.
    pick = _Picker(columns, "\t")
    for line in lines:
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        where = f"{lines.path}:{lines.number}"
        fields = line.split("\t", pick.pieces - 1)
        found = len(fields) if len(fields) < pick.pieces else line.count("\t") + 1
        label, texts = pick(fields, where, found)
        del line, fields
        label = _multi(where, label, multi_label)
        _check_row(where, label, texts)
        yield lines.number, label, texts


def _rows_csv(lines: _Lines, columns: Columns, multi_label: bool) -> Iterator[tuple[int, str, tuple[str, ...]]]:
    # strict: a quote left open runs to the end of the file, and that is an error, not one long text
    reader = csv.reader(lines, strict=True)
    pick = _Picker(columns, ",")
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
            label, texts = pick(rec, where)
            label = _multi(where, label, multi_label)
            _check_row(where, label, texts)
            yield n, label, texts
    finally:
        csv.field_size_limit(old_limit)


def _rows_jsonl(lines: _Lines, pairs: bool | None, multi_label: bool) -> Iterator[tuple[int, str, tuple[str, ...]]]:
    """Rows of a JSON Lines file. ``pairs``: whether each object must carry ``text_pair`` (True), must not
    (False), or as the first object does (None). ``multi_label``: a label is a list of names or indices."""
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
        if pairs is None:
            pairs = "text_pair" in obj
        keys = ("text", "text_pair", "label") if pairs else ("text", "label")
        for key in keys:
            if key not in obj:
                why = " (the model classifies sentence pairs, or the first row has one)" if key == "text_pair" else ""
                raise DataError(f"{where}: missing field {key!r}{why}")
        if not pairs and obj.get("text_pair") is not None:
            raise DataError(
                f"{where}: a 'text_pair', but the model classifies single texts (or the first row has none)"
            )
        label = obj["label"]
        texts = tuple(obj[k] for k in keys[:-1])
        for key, text in zip(keys, texts, strict=False):
            if not isinstance(text, str):
                raise DataError(f"{where}: {key!r} must be a string, not {_json_type(text)}")
        if isinstance(label, list):
            if not multi_label:
                raise DataError(f"{where}: 'label' is a list: {MULTI_LABEL_ADVICE}")
            label = tuple(_json_label(where, x, f"'label'[{i}]") for i, x in enumerate(label))
            if len(label) > MAX_LABELS:
                raise DataError(f"{where}: 'label' lists more than {MAX_LABELS:,} labels")
        else:
            label = _multi(where, _json_label(where, label, "'label'"), multi_label)
        # a JSON escape can carry what UTF-8 bytes cannot: a lone surrogate
        for text in texts:
            check_text(text, where)
        for name in label if isinstance(label, tuple) else (label,):
            check_text(name, where)
        _check_row(where, label, texts)
        yield lines.number, label, texts


MAX_LABELS = 100_000  # per row of multi-label JSONL: a list of a million labels is no label set


def _json_label(where: str, value, name: str) -> str:
    # bool is an int to Python, but `true` is no label
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DataError(f"{where}: {name} must be a string or an integer, not {_json_type(value)}")
    return str(value).strip()


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


def _names(label: str | tuple[str, ...]) -> tuple[str, ...]:
    return label if isinstance(label, tuple) else (label,)


def _is_header(first: tuple[int, str, tuple], rest: list[tuple[int, str, tuple]], labels: Sequence[str] | None) -> bool:
    values = _names(first[1])
    if len(values) != 1:  # a header names its label column once
        return False
    value = values[0]
    if labels is not None and (value in labels or _as_index(value) is not None and _as_index(value) < len(labels)):
        return False
    if value.lstrip("-").isdigit():
        return False
    return value not in {n for r in rest for n in _names(r[1])}


def _as_index(label: str) -> int | None:
    """A label written as a class index (ASCII digits only: int() also takes '²' and '١')."""
    if label.isascii() and label.isdigit() and len(label) <= 9:
        return int(label)
    return None


def read_dataset(
    path: str | Path,
    labels: Sequence[str] | None = None,
    columns: Columns | None = None,
    pairs: bool | None = None,
    multi_label: bool = False,
) -> Dataset:
    """Read a labelled file.

    Args:
        path: a .tsv, .csv, .jsonl (or .json lines) file.
        labels: the model's label names. A label in the file may be a name from this list or
            its index. Without it, names are taken from the data: integers 0..K-1 keep their
            order (none may be missing), other names are sorted.
        columns: a TSV or CSV file's layout (``--text-columns``, ``--label-column``); by default
            (label, text), or (label, text, text_pair) when ``pairs``.
        pairs: whether the model classifies sentence pairs (True), single texts (False), or is
            yet to learn it from the data (None: the columns, or a JSONL file's first object, say).
        multi_label: whether each text has any number of labels (``|``-separated names, a JSONL list);
            without it such a row is refused with that advice.

    Returns:
        The examples, with each text cut to ``limits.MAX_TEXT_CHARS`` (a note on stderr says how
        many were cut and where the first was).

    Raises:
        DataError: with the file and line number of the first problem: a line that is not UTF-8,
            holds a NUL or is longer than ``limits.MAX_LINE_BYTES``, a row with other than the
            layout's columns, an empty label or text, a pair without its second text, an unknown
            label; a model of pairs given single texts or the other way round; or a file that is not a regular
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
            if columns is not None:
                raise DataError(
                    f"{path}: a JSONL file names its fields (text, text_pair, label); "
                    "--text-columns and --label-column are for TSV and CSV"
                )
            records = _rows_jsonl(lines, pairs, multi_label)
        else:
            columns = _layout(path, columns, pairs)
            reader = _rows_csv if DELIMITERS[suffix] == "," else _rows_tsv
            records = reader(lines, columns, multi_label)
        # Each text is cut as it is read, so a dataset holds at most MAX_TEXT_CHARS per row.
        rows = [(n, label, tuple(cut(t, f"{path}:{n}") for t in texts)) for n, label, texts in records]
        if lines.blank:
            raise DataError(f"{path}: the file is empty")
    if suffix not in JSONL_SUFFIXES and rows and _is_header(rows[0], rows[1:], labels):
        rows = rows[1:]
    if not rows:
        raise DataError(f"{path}: no labelled rows")

    if labels is not None:
        names = list(labels)
    else:
        names = _names_from_data(path, [name for r in rows for name in _names(r[1])])
        if len(names) < 2 and multi_label:
            raise DataError(f"{path}: multi-label data needs at least two labels; it has {len(names)}")
    index = {name: i for i, name in enumerate(names)}

    def class_of(n: int, label: str) -> int:
        if label in index:
            return index[label]
        if (i := _as_index(label)) is not None and i < len(names):
            return i
        raise DataError(f"{path}:{n}: unknown label {label!r} (known: {', '.join(names)})")

    examples = []
    for n, label, texts in rows:
        if multi_label:
            ys = [class_of(n, name) for name in label]
            if len(set(ys)) != len(ys):
                twice = next(names[y] for y in ys if ys.count(y) > 1)
                raise DataError(f"{path}:{n}: the label {twice!r} is given twice")
            y = tuple(sorted(ys))
        else:
            y = class_of(n, label)
        examples.append(Example(texts[0], y, n, texts[1] if len(texts) > 1 else None))
    cut.note()
    return Dataset(examples, names, str(path), cut.count, multi_label)


def _layout(path: Path, columns: Columns | None, pairs: bool | None) -> Columns:
    """The columns of a TSV or CSV file: as given, else the default layout for single texts or pairs."""
    if columns is None:
        return PAIRS if pairs else SINGLE
    if pairs is not None and columns.pairs != pairs:
        want = "two text columns (--text-columns A,B)" if pairs else "one text column"
        kind = "sentence pairs" if pairs else "single texts"
        raise DataError(f"{path}: the model classifies {kind}; give {want}")
    return columns


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


SAME_OR_DIFFERENT = ["different", "same"]


def consecutive_pairs(data: Dataset) -> Dataset:
    """Sentence pairs from labelled single texts: each example paired with the next (the last with the
    first), labelled by whether the two have the same label. On SST-2: whether two reviews agree in
    sentiment, a pair task of real text."""
    ex = data.examples
    if len(ex) < 2:
        raise DataError(f"{data.path}: pairs need at least two sentences")
    pairs = [Example(a.text, int(a.label == b.label), a.line, b.text) for a, b in zip(ex, ex[1:] + ex[:1], strict=True)]
    return Dataset(pairs, list(SAME_OR_DIFFERENT), data.path, data.cut)


def check_new_labels(train: Dataset, dev: Dataset) -> None:
    """Refuse a class that the training data brings in but the dev data never shows.

    When the label names come from the training data, one mistyped label ("postive") would
    otherwise silently become a class of its own.

    Raises:
        DataError: naming the label and the first line of the training file where it occurs.
    """
    seen = {y for e in dev.examples for y in _indices(e)}
    for y, name in enumerate(train.labels):
        if y in seen:
            continue
        first = next((e.line for e in train.examples if y in _indices(e)), None)
        where = f"{train.path}:{first}" if first else train.path
        raise DataError(
            f"{where}: label {name!r} does not occur in the dev file {dev.path}; a typo? "
            "If it is a class, list every class with --labels or pass --allow-new-labels"
        )


def _indices(e: Example) -> tuple[int, ...]:
    return e.label if isinstance(e.label, tuple) else (e.label,)


def read_train_dev(
    train_path: str | Path,
    dev_path: str | Path,
    labels: Sequence[str] | None = None,
    allow_new_labels: bool = False,
    columns: Columns | None = None,
    multi_label: bool = False,
) -> tuple[Dataset, Dataset]:
    """Read a training and a dev file for fine-tuning.

    Args:
        train_path, dev_path: labelled files.
        labels: the label names (from --labels or the base model). Without them the names come
            from the training data, and every one must also occur in the dev data unless
            ``allow_new_labels`` (``check_new_labels``).
        columns: the layout of TSV and CSV files (both the same); the dev file holds pairs when the
            training file does.
        multi_label: both files hold multi-label data (``read_dataset``).

    Raises:
        DataError: a bad file, a dev label the training data lacks, or a training label the dev
            data lacks.
    """
    for i, name in enumerate(labels or (), start=1):
        check_text(name, f"label {i}")
    train = read_dataset(train_path, labels, columns, multi_label=multi_label)
    dev = read_dataset(dev_path, train.labels, columns, pairs=train.pairs, multi_label=multi_label)
    if labels is None and not allow_new_labels:
        check_new_labels(train, dev)
    return train, dev
